"""Sample inputs: the dtype rule, the batch rule, and calling a model with its inputs.

``vision`` (images) and ``text`` (tokenizers) hold the per-modality helpers. Only the standard
library is imported at module level.
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
    """Cast floating tensors in ``obj`` (nested dicts, lists, tuples) to ``dtype``; leave the rest.

    A transformers KV cache (decode-step inputs) has its key and value tensors cast in place.
    """
    if dtype is None:
        return obj
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.to(dtype) if obj.is_floating_point() else obj
    if isinstance(obj, Mapping):  # plain dict out, whatever mapping came in (BatchEncoding)
        return {k: cast_floating(v, dtype) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(cast_floating(v, dtype) for v in obj)
    if isinstance(getattr(obj, "layers", None), list) and hasattr(obj, "get_seq_length"):
        for layer in obj.layers:
            for name in ("keys", "values"):
                tensor = getattr(layer, name, None)
                if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
                    setattr(layer, name, tensor.to(dtype))
            if isinstance(getattr(layer, "dtype", None), torch.dtype):
                layer.dtype = dtype  # the layer allocates what it appends in this dtype
    return obj


def call_model(model: Any, inputs: Any) -> Any:
    """Call ``model`` with inputs as ``load_inputs`` returns them: a dict is passed as keywords,
    a list or tuple as positional arguments, anything else as the one argument."""
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (list, tuple)):
        return model(*inputs)
    return model(inputs)


def first_tensor(output: Any) -> Any:
    """``logits`` when the output has them, else the first tensor in it (depth first)."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    logits = output.get("logits") if isinstance(output, Mapping) else getattr(output, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    values = output.values() if isinstance(output, Mapping) else output
    if isinstance(values, (list, tuple)) or isinstance(output, Mapping):
        for value in values:
            found = first_tensor(value) if value is not None else None
            if found is not None:
                return found
    return None
