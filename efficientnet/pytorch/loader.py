"""EfficientNet B0 and B4 (torchvision): depthwise convolutions, SiLU and squeeze-excite, on the
image-classification task base. B4 runs at its own 380x380."""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.image_classification import ImageClassifierLoader, torchvision_row


class ModelVariant(StrEnum):
    B0 = "b0"
    B4 = "b4"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.B0: torchvision_row("efficientnet_b0", "IMAGENET1K_V1", 5_288_548),
        ModelVariant.B4: torchvision_row("efficientnet_b4", "IMAGENET1K_V1", 19_341_616, size=380),
    }
    DEFAULT_VARIANT = ModelVariant.B0
