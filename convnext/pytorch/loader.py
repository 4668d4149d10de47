"""ConvNeXt-T (torchvision): 7x7 depthwise convolutions with LayerNorm over channels, on the
image-classification task base."""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.image_classification import ImageClassifierLoader, torchvision_row


class ModelVariant(StrEnum):
    TINY = "tiny"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.TINY: torchvision_row("convnext_tiny", "IMAGENET1K_V1", 28_589_128),
    }
    DEFAULT_VARIANT = ModelVariant.TINY
