"""Segment Anything (SAM) ViT-B from Hugging Face (``SamModel``), on the mask-generation task
base: the cat photograph with one point prompt on it, three masks with their predicted IoU.

``num_layers=`` cuts the ViT image encoder (``vision_config.num_hidden_layers``) and keeps the
global-attention layers below the cut (``vision_config.global_attn_indexes``), so a cut model holds
exactly the checkpoint's first layers.
"""

from __future__ import annotations

from ...config import HubWeights, StrEnum
from ...tasks.mask_generation import MaskGenerationLoader, mask_gen_row


class ModelVariant(StrEnum):
    BASE = "vit_base"  # upstream's Vit_Base


# 93,735,472 is the published count, from transformers releases that kept the point encoder's
# (2, 128) Gaussian matrix (SamPositionalEmbedding.positional_embedding) as a buffer; transformers 5
# makes it a parameter, so the model built here has 256 more.
_VIT_B = HubWeights.shipped(
    "facebook/sam-vit-base",
    "70c1a07f894ebb5b307fd9eaaee97b9dfc16068f",
    "SamModel",
    layers_key="vision_config.num_hidden_layers",
    layer_index_keys=("vision_config.global_attn_indexes",),
)


class ModelLoader(MaskGenerationLoader):
    _VARIANTS = {
        # The suite runs 1 of the 12 encoder layers (a windowed one) at the full 1024x1024: the
        # absolute positional embeddings fix the input size.
        ModelVariant.BASE: mask_gen_row(
            _VIT_B,
            93_735_728,
            num_layers=1,
            num_params=15_679_920,
            quirks=(
                "global-attention encoder layers (2, 5, 8, 11) attend over all 4096 tokens; on the CPU their "
                "relative-position gradients differ between two identical backward passes",
                "input_points are float coordinates in the 1024 frame: in bf16 they round to steps of up to 4 pixels",
            ),
        ),
    }
    DEFAULT_VARIANT = ModelVariant.BASE
    # The MLPs of the image encoder and the mask decoder's two-way transformer split Megatron-style.
    # The encoder's attention projects q, k and v with one fused Linear (``attn.qkv``), which no
    # contiguous split keeps whole, so attention is replicated.
    TENSOR_PARALLEL = {"column": ("mlp.lin1",), "row": ("mlp.lin2",), "output_column": ()}
