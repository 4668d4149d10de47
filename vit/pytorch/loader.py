"""ViT: patch embedding and global attention, on the image-classification task base. ViT-B/16 from
torchvision, Hugging Face and timm (three implementations of one network) and ViT-L/16."""

from __future__ import annotations

from ...config import HubWeights, StrEnum, TimmWeights
from ...tasks.image_classification import ImageClassifierLoader, image_cls_row, torchvision_row


class ModelVariant(StrEnum):
    VIT_B_16 = "vit_b_16"
    VIT_B_16_HF = "vit_b_16_hf"
    VIT_B_16_TIMM = "vit_b_16_timm"
    VIT_L_16 = "vit_l_16"


class ModelLoader(ImageClassifierLoader):
    _VARIANTS = {
        ModelVariant.VIT_B_16: torchvision_row("vit_b_16", "IMAGENET1K_V1", 86_567_656),
        ModelVariant.VIT_B_16_HF: image_cls_row(
            HubWeights.shipped(
                "google/vit-base-patch16-224", "3f49326eb077187dfe1c2a2bb15fbd74e6ab91e3", "ViTForImageClassification"
            ),
            86_567_656,
        ),
        ModelVariant.VIT_B_16_TIMM: image_cls_row(
            TimmWeights("vit_base_patch16_224", "augreg2_in21k_ft_in1k", "063c6c38a5d8510b2e57df480445e94b231dad2c"),
            86_567_656,
        ),
        ModelVariant.VIT_L_16: torchvision_row("vit_l_16", "IMAGENET1K_V1", 304_326_632),
    }
    DEFAULT_VARIANT = ModelVariant.VIT_B_16

    # Megatron over each implementation's names: Hugging Face's q/k/v and first MLP Linear
    # (column) before o_proj and the second (row); timm's and torchvision's MLPs. Those two project
    # q, k and v with one fused Linear, which no contiguous split keeps whole: it is replicated.
    TENSOR_PARALLEL = {
        "column": ("q_proj", "k_proj", "v_proj", "mlp.fc1", "mlp.0"),
        "row": ("o_proj", "mlp.fc2", "mlp.3"),
        "output_column": (),
    }
