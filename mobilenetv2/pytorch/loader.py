"""MobileNetV2 (torchvision): inverted residuals with depthwise convolutions and ReLU6, on the
image-classification task base."""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.image_classification import ImageClassifierLoader, torchvision_row


class ModelVariant(StrEnum):
    MOBILENET_V2 = "mobilenet_v2"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.MOBILENET_V2: torchvision_row("mobilenet_v2", "IMAGENET1K_V2", 3_504_872),
    }
    DEFAULT_VARIANT = ModelVariant.MOBILENET_V2
