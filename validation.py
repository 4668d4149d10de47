"""Checks of the numbers, names and environment variables that callers pass in.

Every check raises before anything large is allocated: a ``TypeError`` for the wrong kind of value,
a ``ValueError`` for a value out of range, each naming the value and what is accepted. Integers
are any integral type (``int``, ``numpy.int64``: whatever ``operator.index`` takes) but never
``bool``, and never a float or a string that merely looks like one.

Only the standard library is imported here.
"""

from __future__ import annotations

import operator
import os
from typing import Any

#: ``seed`` is a 64-bit unsigned value, what ``torch.Generator.manual_seed`` accepts.
SEED_MAX = 2**64 - 1

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as a plain ``int`` within ``[minimum, maximum]``; TypeError or ValueError otherwise."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool {value!r}")
    try:
        number = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        low = "" if minimum is None else f">= {minimum}"
        high = "" if maximum is None else f"<= {maximum}"
        raise ValueError(f"{name} must be {' and '.join(p for p in (low, high) if p)}, got {number}")
    return number


def check_seed(seed: Any) -> int:
    """A seed in ``0..2**64-1``: beyond it ``torch`` fails only after the model is allocated, and
    ``-1`` would silently mean ``2**64-1``."""
    return check_int("seed", seed, minimum=0, maximum=SEED_MAX)


def check_top_k(top_k: Any) -> int:
    return check_int("top_k", top_k, minimum=1)


def check_outputs(outputs: Any) -> Any:
    """``decode_output`` takes what the model returned: refuse ``None`` (and other non-outputs)
    with a TypeError instead of an AttributeError deep in the decoder."""
    from .inputs import first_tensor

    if outputs is None or isinstance(outputs, (str, bytes, int, float, bool)) or first_tensor(outputs) is None:
        raise TypeError(
            f"decode_output takes the model's outputs (a tensor, a ModelOutput, a dict or a tuple of "
            f"tensors), got {type(outputs).__name__} {_short(outputs)}"
        )
    return outputs


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def env_flag(name: str) -> bool:
    """A boolean environment variable: unset or one of 0/false/no/off is off, 1/true/yes/on is on,
    anything else is a ValueError naming the variable (a typo must not silently mean "off")."""
    raw = os.environ.get(name)
    if raw is None:
        return False
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"environment variable {name}={raw!r} is not a boolean; accepted: "
        f"{', '.join(sorted(_TRUE))} (on) or {', '.join(sorted(v for v in _FALSE if v))} or empty (off)"
    )


def check_variant(loader: Any, variant: Any) -> Any:
    """The member of ``loader._VARIANTS`` that ``variant`` names, by one rule: any ``str`` whose
    value is one of the loader's variants is accepted (the loader's own member, its string value,
    or a member of any other string enum, ``enum.StrEnum`` included), except a member of another
    loader's ``ModelVariant``, which is refused as such: it names a different model."""
    import enum

    if variant is None:
        if loader.DEFAULT_VARIANT is None:
            raise TypeError(f"{loader.__qualname__} declares no DEFAULT_VARIANT")
        return loader.DEFAULT_VARIANT
    valid = ", ".join(str(v) for v in loader._VARIANTS)
    if not isinstance(variant, str):
        raise TypeError(
            f"variant must be a {loader.__module__.rsplit('.', 1)[0]}.ModelVariant or its string "
            f"value, got {type(variant).__name__} {variant!r}; valid: {valid}"
        )
    # By name, not identity: a loader module imported twice (tt-xla loads each file again under a
    # key of its own) has two copies of one ModelVariant, and either copy names its variants.
    own = {(type(v).__module__, type(v).__qualname__) for v in loader._VARIANTS}
    kind = (type(variant).__module__, type(variant).__qualname__)
    if isinstance(variant, enum.Enum) and kind not in own and _is_loader_enum(type(variant)):
        raise ValueError(
            f"variant {variant!r} is a member of {type(variant).__module__}.{type(variant).__qualname__}, "
            f"another loader's variant enum, not of {loader._model_label()}; valid: {valid}"
        )
    value = variant.value if isinstance(variant, enum.Enum) else variant
    for known in loader._VARIANTS:
        if value == known.value:
            return known
    raise ValueError(f"unknown variant {str(value)!r} for {loader._model_label()}; valid: {valid}")


def _is_loader_enum(enum_type: type) -> bool:
    """Whether ``enum_type`` keys the variant table of some loaded ``ForgeModel`` subclass."""
    from .base import ForgeModel

    pending = list(ForgeModel.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if any(type(v) is enum_type for v in getattr(cls, "_VARIANTS", {})):
            return True
    return False


__all__ = ["SEED_MAX", "check_int", "check_outputs", "check_seed", "check_top_k", "check_variant", "env_flag"]
