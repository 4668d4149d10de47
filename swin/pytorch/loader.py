"""Swin-T, Swin-B and Swin V2-T: shifted-window attention (``torch.roll``, relative-position
gathers), on the image-classification task base. Swin-T from torchvision and Hugging Face (two
implementations of one network); V2-T runs at its own 256x256."""

from __future__ import annotations

from ...config import HubWeights, StrEnum
from ...tasks.image_classification import ImageClassifierLoader, image_cls_row, torchvision_row


class ModelVariant(StrEnum):
    SWIN_T = "swin_t"
    SWIN_T_HF = "swin_t_hf"
    SWIN_B = "swin_b"
    SWIN_V2_T = "swin_v2_t"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.SWIN_T: torchvision_row("swin_t", "IMAGENET1K_V1", 28_288_354),
        ModelVariant.SWIN_T_HF: image_cls_row(
            HubWeights.shipped(
                "microsoft/swin-tiny-patch4-window7-224",
                "d00d478bfaf1f417d34a1186673ad4b4be264c51",
                "SwinForImageClassification",
            ),
            28_288_354,
        ),
        ModelVariant.SWIN_B: torchvision_row("swin_b", "IMAGENET1K_V1", 87_768_224),
        ModelVariant.SWIN_V2_T: torchvision_row("swin_v2_t", "IMAGENET1K_V1", 28_351_570, size=256),
    }
    DEFAULT_VARIANT = ModelVariant.SWIN_T
