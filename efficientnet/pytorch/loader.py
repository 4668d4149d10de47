"""EfficientNet B0 and B4: depthwise convolutions, SiLU and squeeze-excite, on the
image-classification task base. B0 from torchvision and timm; B4 runs at its own 380x380."""

from __future__ import annotations

from ...config import StrEnum, TimmWeights
from ...tasks.image_classification import ImageClassifierLoader, image_cls_row, torchvision_row


class ModelVariant(StrEnum):
    B0 = "b0"
    B0_TIMM = "b0_timm"
    B4 = "b4"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.B0: torchvision_row("efficientnet_b0", "IMAGENET1K_V1", 5_288_548),
        ModelVariant.B0_TIMM: image_cls_row(
            TimmWeights("efficientnet_b0", "ra_in1k", "1b5383e5f79cc0f7fc067e372f8f26a5fa73f26a"), 5_288_548
        ),
        ModelVariant.B4: torchvision_row("efficientnet_b4", "IMAGENET1K_V1", 19_341_616, size=380),
    }
    DEFAULT_VARIANT = ModelVariant.B0
