"""The typed errors and warnings of the package.

Each subclasses the builtin that callers already catch, so ``except ValueError`` keeps working.
"""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were required but cannot be had (offline, not cached, gated)."""


class CorruptWeightsError(ValueError):
    """A weights file exists but cannot be read as what it claims to be."""


class ModelTooLargeError(MemoryError):
    """Materialising the model would not fit in the memory this machine has available."""


class WeightsFallbackWarning(UserWarning):
    """``weights="auto"`` could not get pretrained weights and built random ones instead."""


class PreprocessorFallbackWarning(UserWarning):
    """No real tokenizer or image processor could be had; inputs come from a documented fallback."""
