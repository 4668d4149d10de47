"""ViT-B/16 (torchvision): patch embedding and global attention, on the image-classification task
base."""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.image_classification import ImageClassifierLoader, torchvision_row


class ModelVariant(StrEnum):
    VIT_B_16 = "vit_b_16"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.VIT_B_16: torchvision_row("vit_b_16", "IMAGENET1K_V1", 86_567_656),
    }
    DEFAULT_VARIANT = ModelVariant.VIT_B_16
