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


def resolve_dtype(dtype: Any) -> Any:
    """Return a ``torch.dtype`` (or ``None``) for ``dtype``; reject anything a model cannot run in.

    Accepts ``None``, a floating ``torch.dtype`` or one of the names in ``_DTYPE_NAMES``.
    """
    if dtype is None:
        return None
    import torch

    if isinstance(dtype, str):
        name = _DTYPE_NAMES.get(dtype.lower().removeprefix("torch."))
        if name is None:
            raise ValueError(
                f"unsupported dtype {dtype!r}; accepted names: {', '.join(sorted(_DTYPE_NAMES))}"
            )
        return getattr(torch, name)
    if not isinstance(dtype, torch.dtype):
        raise TypeError(
            f"dtype_override must be a torch.dtype or a name such as 'bf16', got "
            f"{type(dtype).__name__} {dtype!r}"
        )
    if str(dtype).removeprefix("torch.") not in SUPPORTED_DTYPES:
        raise ValueError(
            f"unsupported dtype {dtype}; accepted: "
            + ", ".join(f"torch.{name}" for name in SUPPORTED_DTYPES)
        )
    return dtype
