"""ResNet image classifiers from Hugging Face, torchvision and timm, behind one loader.

Every variant classifies the same real photograph (``assets/chelsea.jpg``), preprocessed by its
source's own transforms, and decodes to ImageNet labels.
"""

from __future__ import annotations

from ...config import (
    HubWeights,
    ModelGroup,
    StrEnum,
    TimmWeights,
)
from ...tasks.image_classification import ImageClassifierLoader, image_cls_row, torchvision_row


class ModelVariant(StrEnum):
    RESNET_50_HF = "resnet_50_hf"
    RESNET_18 = "resnet18"
    RESNET_34 = "resnet34"
    RESNET_50 = "resnet50"
    RESNET_101 = "resnet101"
    RESNET_152 = "resnet152"
    RESNET_50_TIMM = "resnet50_timm"
    RESNET_50_HIGHRES = "resnet50_highres"


# Full sha256 of torchvision's checkpoint files, checked before a cached file is used. torchvision
# publishes only the first 8 hex digits (in the file name); these full digests come from public
# records of those files and match the published prefixes. Rows without one are checked against
# the prefix, computed from the file's content (see weights/torchvision.py).
_RESNET18_V1_SHA256 = "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"
_RESNET34_V1_SHA256 = "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f"
_RESNET50_V2_SHA256 = "11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.RESNET_50_HF: image_cls_row(
            HubWeights.shipped(
                "microsoft/resnet-50", "34c2154c194f829b11125337b98c8f5f9965ff19", "ResNetForImageClassification"
            ),
            25_557_032,
            group=ModelGroup.RED,
        ),
        ModelVariant.RESNET_18: torchvision_row("resnet18", "IMAGENET1K_V1", 11_689_512, _RESNET18_V1_SHA256),
        ModelVariant.RESNET_34: torchvision_row("resnet34", "IMAGENET1K_V1", 21_797_672, _RESNET34_V1_SHA256),
        ModelVariant.RESNET_50: torchvision_row(
            "resnet50", "IMAGENET1K_V2", 25_557_032, _RESNET50_V2_SHA256, group=ModelGroup.PRIORITY
        ),
        ModelVariant.RESNET_101: torchvision_row("resnet101", "IMAGENET1K_V2", 44_549_160),
        ModelVariant.RESNET_152: torchvision_row("resnet152", "IMAGENET1K_V2", 60_192_808),
        ModelVariant.RESNET_50_TIMM: image_cls_row(
            TimmWeights("resnet50", "a1_in1k", "767268603ca0cb0bfe326fa87277f19c419566ef"), 25_557_032
        ),
        # Same network as resnet50, fed 448x448: the high-resolution case for compilers.
        ModelVariant.RESNET_50_HIGHRES: torchvision_row(
            "resnet50", "IMAGENET1K_V2", 25_557_032, _RESNET50_V2_SHA256, size=448
        ),
    }
    DEFAULT_VARIANT = ModelVariant.RESNET_50_HF
