"""Swin-T and Swin V2-T (torchvision): shifted-window attention (``torch.roll``, relative-position
gathers), on the image-classification task base. V2-T runs at its own 256x256."""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.image_classification import ImageClassifierLoader, torchvision_row


class ModelVariant(StrEnum):
    SWIN_T = "swin_t"
    SWIN_V2_T = "swin_v2_t"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.SWIN_T: torchvision_row("swin_t", "IMAGENET1K_V1", 28_288_354),
        ModelVariant.SWIN_V2_T: torchvision_row("swin_v2_t", "IMAGENET1K_V1", 28_351_570, size=256),
    }
    DEFAULT_VARIANT = ModelVariant.SWIN_T
