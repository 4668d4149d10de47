"""CLIP (OpenAI, Hugging Face ``CLIPModel``): zero-shot classification of the sample photograph
against shipped label prompts, on the zero-shot task base."""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.zero_shot_classification import ZeroShotImageClassifierLoader, zero_shot_row


class ModelVariant(StrEnum):
    VIT_B_32 = "vit_b_32"
    VIT_L_14 = "vit_l_14"


class ModelLoader(ZeroShotImageClassifierLoader):
    _VARIANTS = {
        # The suite runs both towers at 2 layers. bf16 reached 0.983 at full depth on the suite's
        # seed-0 weights: random logits spread little over the labels.
        ModelVariant.VIT_B_32: zero_shot_row(
            "openai/clip-vit-base-patch32",
            "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268",
            "CLIPModel",
            151_277_313,
            bf16_pcc=0.97,
            test_num_layers=2,
            test_num_params=48_874_753,
        ),
        # Its hub config still carries the legacy text_config_dict / vision_config_dict, which
        # transformers reads over text_config / vision_config: a cut changes both spellings.
        ModelVariant.VIT_L_14: zero_shot_row(
            "openai/clip-vit-large-patch14",
            "32bd64288804d66eefd0ccbe215aa642df71cc41",
            "CLIPModel",
            427_616_513,
            test_num_layers=2,
            test_num_params=79_620_865,
            layers_key=tuple(
                f"{tower}_config{legacy}.num_hidden_layers" for tower in ("text", "vision") for legacy in ("", "_dict")
            ),
        ),
    }
    DEFAULT_VARIANT = ModelVariant.VIT_B_32
    # Megatron in both towers: q/k/v and the first MLP Linear column-parallel, the attention output
    # and the second MLP Linear row-parallel; the projections into the joint space replicated.
    TENSOR_PARALLEL = {
        "column": ("q_proj", "k_proj", "v_proj", "mlp.fc1"),
        "row": ("out_proj", "mlp.fc2"),
        "output_column": (),
    }
