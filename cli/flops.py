"""FLOPs of one forward pass, counted without allocating any weights.

``torch.utils.flop_counter.FlopCounterMode`` counts the matmuls, convolutions and attention a
forward dispatches (a multiply-add counts as 2 FLOPs). The model is built on the meta device and
fed meta copies of its sample inputs, so counting a 70B model costs no memory. A model whose
forward cannot run on meta (it creates CPU tensors of its own, say) is retried under
``FakeTensorMode``, where every tensor claims to be on the CPU but has no storage. ``info`` and the
benchmark harness share this code.

Only the standard library is imported at module level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import one_line
from ..inputs.tree import map_tensors

if TYPE_CHECKING:  # pragma: no cover
    from ..base import ForgeModel


@dataclass(frozen=True)
class FlopCount:
    """``flops`` for one forward, or ``None`` with the ``error`` that stopped the count.

    ``method`` is ``"meta"`` or ``"fake"``: how the forward ran without weights.
    """

    flops: int | None
    method: str | None = None
    error: str | None = None

    def __str__(self) -> str:
        if self.flops is None:
            return f"unavailable: {self.error}"
        return f"{self.flops / 1e9:.3f} GFLOP ({self.flops:,})"


def count_flops(loader: "ForgeModel", *, batch_size: int = 1, dtype: Any = None, **model_kwargs: Any) -> FlopCount:
    """FLOPs of one forward of ``loader``'s variant on its sample inputs at ``batch_size``.

    Never raises for a model that cannot be counted; the reason is in ``FlopCount.error``.
    Bad arguments (an unsupported dtype, ``batch_size < 1``) still raise.
    """
    inputs = loader.load_inputs(dtype_override=dtype, batch_size=batch_size)
    errors = []
    for name, method in (("meta", _count_on_meta), ("fake", _count_on_fake)):
        try:
            return FlopCount(method(loader, inputs, dtype, model_kwargs), name)
        except Exception as err:  # any failure of a forward pass: record it and try the next way
            errors.append(f"{name}: {one_line(err, 200)}")
    return FlopCount(None, None, "; ".join(errors))


def _count(model: Any, inputs: Any, loader: "ForgeModel") -> int:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        loader.call_model(model, inputs)
    return int(counter.get_total_flops())


def _count_on_meta(loader: "ForgeModel", inputs: Any, dtype: Any, model_kwargs: dict) -> int:
    import torch

    model = loader.load_model(device="meta", dtype_override=dtype, **model_kwargs)
    return _count(model, map_tensors(inputs, lambda t: torch.empty_like(t, device="meta")), loader)


def _count_on_fake(loader: "ForgeModel", inputs: Any, dtype: Any, model_kwargs: dict) -> int:
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    model = loader.load_model(device="meta", dtype_override=dtype, **model_kwargs)
    mode = FakeTensorMode(allow_non_fake_inputs=True)
    with mode:
        # Storage-less CPU tensors in place of the meta ones: ops that mix in CPU tensors work.
        for module in model.modules():
            for name, param in list(module._parameters.items()):
                if param is not None:
                    fake = torch.empty(param.shape, dtype=param.dtype, device="cpu")
                    module._parameters[name] = torch.nn.Parameter(fake, requires_grad=False)
            for name, buf in list(module._buffers.items()):
                if buf is not None:
                    module._buffers[name] = torch.zeros(buf.shape, dtype=buf.dtype, device="cpu")
        fake_inputs = map_tensors(inputs, mode.from_tensor)
        return _count(model, fake_inputs, loader)
