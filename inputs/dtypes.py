"""The dtype rule shared by every loader: which dtypes a caller may ask for, by object or name."""

from __future__ import annotations

from typing import Any

# Names a command line or config file may use; values are torch attribute names.
_DTYPE_NAMES = {
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
}
SUPPORTED_DTYPES = ("float32", "bfloat16", "float16")


def canonical_dtype_name(name: str) -> str:
    """The torch attribute name (``"bfloat16"``) for an accepted name (``"bf16"``); no torch import,
    so a command line can reject a bad name before paying for torch."""
    canonical = _DTYPE_NAMES.get(name.lower().removeprefix("torch."))
    if canonical is None:
        raise ValueError(f"unsupported dtype {name!r}; accepted names: {', '.join(sorted(_DTYPE_NAMES))}")
    return canonical


def resolve_dtype(dtype: Any) -> Any:
    """Return a ``torch.dtype`` (or ``None``) for ``dtype``; reject anything a model cannot run in.

    Accepts ``None``, a floating ``torch.dtype`` or one of the names in ``_DTYPE_NAMES``.
    """
    if dtype is None:
        return None
    import torch

    if isinstance(dtype, str):
        return getattr(torch, canonical_dtype_name(dtype))
    if not isinstance(dtype, torch.dtype):
        raise TypeError(
            f"dtype_override must be a torch.dtype or a name such as 'bf16', got {type(dtype).__name__} {dtype!r}"
        )
    if str(dtype).removeprefix("torch.") not in SUPPORTED_DTYPES:
        raise ValueError(
            f"unsupported dtype {dtype}; accepted: " + ", ".join(f"torch.{name}" for name in SUPPORTED_DTYPES)
        )
    return dtype
