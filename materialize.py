"""Give models built on the meta device their storage: random init or a state dict.

The recipe the design asks for: construct on the meta device (free at any size), allocate every
parameter once in the target dtype, then initialise each value once under a private, seeded RNG.
There is never an fp32 copy on the way to bf16 and the caller's global RNG is left alone.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn

from .memory import check_fits


@contextlib.contextmanager
def parameters_on_meta() -> Iterator[None]:
    """Register every new parameter on the meta device, leaving buffers real.

    Buffers that a module computes in ``__init__`` (anchors, index tables) keep their values, so a
    generic init pass need only fill the parameters. Constructors that allocate with
    ``torch.empty`` and then register cost no memory: the pages are never touched.
    """
    original = nn.Module.register_parameter

    def register_parameter(module: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = type(param)(param.to("meta"), requires_grad=param.requires_grad)
        original(module, name, param)

    nn.Module.register_parameter = register_parameter
    try:
        yield
    finally:
        nn.Module.register_parameter = original


def count_parameters(model: nn.Module) -> int:
    """Parameters counted once each, tied ones included once (as ``numel`` over unique tensors)."""
    return sum(p.numel() for p in model.parameters())


def materialize_(model: nn.Module, dtype: torch.dtype | None, device: str = "cpu") -> nn.Module:
    """Give every meta tensor uninitialised storage, floating ones in ``dtype``; cast real buffers.

    Tied parameters stay tied: each distinct meta tensor is allocated once.
    """
    target = dtype or torch.get_default_dtype()
    nbytes = sum(
        p.numel() * (target.itemsize if p.is_floating_point() else p.element_size())
        for p in _unique(model.parameters())
    )
    check_fits(nbytes, f"{type(model).__name__} in {target}")
    allocated: dict[int, torch.Tensor] = {}

    def fresh(tensor: torch.Tensor) -> torch.Tensor:
        key = id(tensor)
        if key not in allocated:
            want = target if tensor.is_floating_point() else tensor.dtype
            if tensor.device.type == "meta":
                allocated[key] = torch.empty(tensor.shape, dtype=want, device=device)
            else:
                allocated[key] = tensor.to(device=device, dtype=want)
        return allocated[key]

    for module in model.modules():
        for name, param in list(module._parameters.items()):
            if param is None:
                continue
            key = id(param)
            if key not in allocated:
                allocated[key] = nn.Parameter(fresh(param), requires_grad=param.requires_grad)
                allocated[id(allocated[key])] = allocated[key]
            module._parameters[name] = allocated[key]
        for name, buf in list(module._buffers.items()):
            if buf is not None:
                module._buffers[name] = fresh(buf)
    return model


def _unique(tensors) -> list[torch.Tensor]:
    seen: dict[int, torch.Tensor] = {}
    for t in tensors:
        seen.setdefault(id(t), t)
    return list(seen.values())


@torch.no_grad()
def default_init_(model: nn.Module) -> None:
    """One pass over every parameter, the torchvision/timm recipe for convolutional networks.

    Convolutions: Kaiming normal (fan_out, ReLU gain), zero bias. Modules with their own
    ``reset_parameters`` (Linear, norms, embeddings) use it, which also resets BatchNorm running
    statistics. Any other parameter, such as a learned token or position table, gets N(0, 0.02).
    """
    for module in model.modules():
        direct = [p for p in module._parameters.values() if p is not None]
        if isinstance(module, nn.modules.conv._ConvNd):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif hasattr(module, "reset_parameters") and (direct or module._buffers):
            module.reset_parameters()
        else:
            for param in direct:
                nn.init.normal_(param, std=0.02)


def build_random(
    construct: Callable[[], nn.Module],
    *,
    dtype: torch.dtype | None,
    seed: int = 0,
    init: Callable[[nn.Module], None] = default_init_,
    buffers_on_meta: bool = False,
    device: str = "cpu",
) -> nn.Module:
    """Construct on meta, materialise in ``dtype`` on ``device``, run ``init`` once under ``seed``.

    ``buffers_on_meta=True`` builds everything under the meta device; use it when ``init`` also
    fills the buffers (Hugging Face ``initialize_weights`` does). Otherwise buffers are built for
    real by the constructor and only parameters start on meta.
    """
    model = construct_on_meta(construct, buffers_on_meta=buffers_on_meta)
    if device == "meta":
        return model.to(dtype) if dtype is not None else model
    materialize_(model, dtype, device=device)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        init(model)
    return model


def construct_on_meta(construct: Callable[[], nn.Module], *, buffers_on_meta: bool = True) -> nn.Module:
    """The architecture with no storage at all: parameter counts and shapes, at any size, instantly."""
    context = torch.device("meta") if buffers_on_meta else parameters_on_meta()
    with context:
        return construct()


def build_from_state_dict(
    construct: Callable[[], nn.Module],
    state: dict[str, torch.Tensor],
    *,
    dtype: torch.dtype | None,
    origin: str,
) -> nn.Module:
    """Construct with parameters on meta, allocate them in ``dtype`` and copy ``state`` in.

    No init pass and no fp32 model. Buffers are built for real by the constructor, so the
    non-persistent ones a checkpoint does not hold (position ids, RoPE frequencies) are right.
    """
    from .weights import assign_state_dict

    model = construct_on_meta(construct, buffers_on_meta=False)
    materialize_(model, dtype)
    assign_state_dict(model, state, origin=origin)
    return model


__all__ = [
    "build_from_state_dict",
    "build_random",
    "construct_on_meta",
    "count_parameters",
    "default_init_",
    "materialize_",
    "parameters_on_meta",
]
