"""The typed errors and warnings of the package.

Each subclasses the builtin that callers already catch, so ``except ValueError`` keeps working.
"""


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were required but cannot be had (offline, not cached, gated)."""


class CorruptWeightsError(ValueError):
    """A weights file exists but cannot be read as what it claims to be."""


class ModelTooLargeError(MemoryError):
    """Materialising the model would not fit in the memory this machine has available."""


class DeviceUnavailableError(RuntimeError):
    """The requested device (``cuda``) does not exist on this machine."""


class RemoteCodeError(ValueError):
    """A config asks to run code shipped with the weights (``auto_map``); this package never does."""


class WeightsPathError(ValueError):
    """A weights path exists but is not a regular file or folder (a FIFO, a device, a symlink
    loop), or is empty."""


class WeightsFallbackWarning(UserWarning):
    """``weights="auto"`` could not get pretrained weights and built random ones instead."""


class PreprocessorFallbackWarning(UserWarning):
    """No real tokenizer or image processor could be had; inputs come from a documented fallback."""


def one_line(err: BaseException, limit: int = 300) -> str:
    """``err`` as one line, ``Type: first line of the message``, for reports and records that must
    not carry multi-line library messages."""
    lines = str(err).strip().splitlines()
    first = lines[0].strip()[:limit] if lines else ""
    return f"{type(err).__name__}: {first}" if first else type(err).__name__


class MissingDependencyError(ImportError):
    """An optional framework (jax, flax, onnx, onnxruntime) is not installed; the message names the
    extra that installs it."""


class OnnxExportError(RuntimeError):
    """A variant cannot be exported to ONNX: its row declares why (``TestSpec.onnx_unsupported``),
    or the exporter failed; the message names the variant and the reason."""


class CacheRebuildWarning(UserWarning):
    """A cache entry (an ONNX export) was unreadable or did not match its record: it was not
    trusted, and is being rebuilt."""
