"""Sample inputs: the dtype rule, the batch rule, and calling a model with its inputs.

``vision`` (images) and ``text`` (tokenizers) hold the per-modality helpers, ``tree`` the one walk
over nested inputs and outputs. Only the standard library is imported at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def check_batch_size(batch_size: Any) -> int:
    """``batch_size`` as a plain int >= 1: any integral type (``numpy.int64``) but not bool."""
    from ..validation import check_int

    return check_int("batch_size", batch_size, minimum=1)


def check_input_bytes(num_bytes: int, what: str) -> None:
    """Refuse sample inputs of ``num_bytes`` that cannot fit, before building them (the input
    side of the weights guard in :mod:`..memory`)."""
    from ..weights.memory import check_fits

    check_fits(num_bytes, what, kind="inputs")


def cast_floating(obj: Any, dtype: Any) -> Any:
    """Cast floating tensors in ``obj`` (any nesting :mod:`.tree` walks) to ``dtype``; leave the rest.

    A transformers KV cache (decode-step inputs) has its key and value tensors cast in place.
    """
    if dtype is None:
        return obj
    from .tree import caches, map_tensors

    cast = map_tensors(obj, lambda t: t.to(dtype) if t.is_floating_point() else t)
    for cache in caches(cast):  # passed along, not copied, by map_tensors
        _cast_cache_(cache, dtype)
    return cast


def _cast_cache_(cache: Any, dtype: Any) -> None:
    import torch

    from .tree import sub_caches

    parts = sub_caches(cache)
    if parts != [cache]:  # an encoder-decoder's self- and cross-attention caches
        for part in parts:
            _cast_cache_(part, dtype)
        return
    for layer in getattr(cache, "layers", None) or []:
        for name in ("keys", "values"):
            tensor = getattr(layer, name, None)
            if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                setattr(layer, name, tensor.to(dtype))
        if isinstance(getattr(layer, "dtype", None), torch.dtype):
            layer.dtype = dtype  # the layer allocates what it appends in this dtype


def bind_inputs(model: Any, inputs: Any) -> Any:
    """``model`` bound to inputs as ``load_inputs`` returns them: a dict as keywords, a list or
    tuple as positional arguments, anything else as the one argument. The benchmark harness times
    the bound call, so it calls the model exactly as a bare loop written for these inputs does."""
    import functools

    if isinstance(inputs, Mapping):
        return functools.partial(model, **inputs)
    if isinstance(inputs, (list, tuple)):
        return functools.partial(model, *inputs)
    return functools.partial(model, inputs)


def call_model(model: Any, inputs: Any) -> Any:
    """Call ``model`` with inputs as ``load_inputs`` returns them (the rule of :func:`bind_inputs`)."""
    return bind_inputs(model, inputs)()


def first_tensor(output: Any) -> Any:
    """``logits`` when the output has them, else the first tensor in it (depth first, a container
    with ``logits`` of its own answering for itself)."""
    import torch

    from .tree import children

    if isinstance(output, torch.Tensor):
        return output
    logits = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    for _, value in children(output):
        found = first_tensor(value) if value is not None else None
        if found is not None:
            return found
    return None
