"""ResNet image classifiers from Hugging Face, torchvision and timm, behind one loader.

Every variant classifies the same real photograph (``assets/chelsea.jpg``), preprocessed by its
source's own transforms, and decodes to ImageNet labels.
"""

from __future__ import annotations

from typing import Any

from ...config import ModelConfig, ModelGroup, ModelInfo, ModelSource, ModelTask, StrEnum
from ...tasks.image_classification import ImageClassifierLoader


class ModelVariant(StrEnum):
    RESNET_50_HF = "resnet_50_hf"
    RESNET_18 = "resnet18"
    RESNET_34 = "resnet34"
    RESNET_50 = "resnet50"
    RESNET_101 = "resnet101"
    RESNET_152 = "resnet152"
    RESNET_50_TIMM = "resnet50_timm"
    RESNET_50_HIGHRES = "resnet50_highres"


def _torchvision(builder: str, tag: str, params: int, size: int = 224, **kw: Any) -> ModelConfig:
    return ModelConfig(
        pretrained_model_name=builder,
        source=ModelSource.TORCHVISION,
        task=ModelTask.CV_IMAGE_CLS,
        weights_tag=tag,
        num_params=params,
        input_size=(3, size, size),
        **kw,
    )


# Full sha256 of torchvision's checkpoint files, checked before a cached file is used. torchvision
# publishes only the first 8 hex digits (in the file name); these full digests come from public
# records of those files and match the published prefixes. Rows without one are checked against
# the prefix, computed from the file's content (see weights/torchvision.py).
_RESNET18_V1_SHA256 = "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"
_RESNET34_V1_SHA256 = "b627a593bcbe140c234610266fe4f8ae95ea42fc881d091c9b6052e6b1d0590f"
_RESNET50_V2_SHA256 = "11ad3fa62ca79e40addfd354a8ec4b7c75143b3038b8d2a807fbc68deab379ca"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.RESNET_50_HF: ModelConfig(
            pretrained_model_name="microsoft/resnet-50",
            source=ModelSource.HUGGING_FACE,
            task=ModelTask.CV_IMAGE_CLS,
            group=ModelGroup.RED,
            revision="34c2154c194f829b11125337b98c8f5f9965ff19",
            config_file="configs/microsoft-resnet-50.json",
            model_class="ResNetForImageClassification",
            num_params=25_557_032,
            input_size=(3, 224, 224),
        ),
        ModelVariant.RESNET_18: _torchvision(
            "resnet18", "IMAGENET1K_V1", 11_689_512, weights_sha256=_RESNET18_V1_SHA256
        ),
        ModelVariant.RESNET_34: _torchvision(
            "resnet34", "IMAGENET1K_V1", 21_797_672, weights_sha256=_RESNET34_V1_SHA256
        ),
        ModelVariant.RESNET_50: _torchvision(
            "resnet50", "IMAGENET1K_V2", 25_557_032, group=ModelGroup.PRIORITY, weights_sha256=_RESNET50_V2_SHA256
        ),
        ModelVariant.RESNET_101: _torchvision("resnet101", "IMAGENET1K_V2", 44_549_160),
        ModelVariant.RESNET_152: _torchvision("resnet152", "IMAGENET1K_V2", 60_192_808),
        ModelVariant.RESNET_50_TIMM: ModelConfig(
            pretrained_model_name="resnet50",
            source=ModelSource.TIMM,
            task=ModelTask.CV_IMAGE_CLS,
            weights_tag="a1_in1k",
            revision="767268603ca0cb0bfe326fa87277f19c419566ef",
            num_params=25_557_032,
            input_size=(3, 224, 224),
        ),
        # Same network as resnet50, fed 448x448: the high-resolution case for compilers.
        ModelVariant.RESNET_50_HIGHRES: _torchvision(
            "resnet50", "IMAGENET1K_V2", 25_557_032, size=448, weights_sha256=_RESNET50_V2_SHA256
        ),
    }
    DEFAULT_VARIANT = ModelVariant.RESNET_50_HF

    @classmethod
    def _get_model_info(cls, variant: StrEnum) -> ModelInfo:
        return cls._info(variant, "resnet")

    def load_config(self) -> Any:
        source = self._weights_source()
        return source.load_config() if hasattr(source, "load_config") else None
