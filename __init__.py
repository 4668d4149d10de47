"""tt-forge-models: one loader per model family behind one contract, for compiler frontends.

Importing this package is cheap: it imports no torch. Heavy libraries load inside the methods
that need them.
"""

from .base import ForgeModel
from .config import (
    Framework,
    LLMModelConfig,
    ModelConfig,
    ModelGroup,
    ModelInfo,
    ModelSource,
    ModelTask,
    Parallelism,
    StrEnum,
)
from .discovery import VariantEntry, get_loader, list_variants
from .errors import (
    CorruptWeightsError,
    ModelTooLargeError,
    PreprocessorFallbackWarning,
    WeightsFallbackWarning,
    WeightsUnavailableError,
)
from .inputs import call_model

__version__ = "0.1.0"

__all__ = [
    "CorruptWeightsError",
    "ForgeModel",
    "Framework",
    "LLMModelConfig",
    "ModelConfig",
    "ModelGroup",
    "ModelInfo",
    "ModelSource",
    "ModelTask",
    "ModelTooLargeError",
    "Parallelism",
    "PreprocessorFallbackWarning",
    "StrEnum",
    "VariantEntry",
    "WeightsFallbackWarning",
    "WeightsUnavailableError",
    "__version__",
    "call_model",
    "get_loader",
    "list_variants",
]
