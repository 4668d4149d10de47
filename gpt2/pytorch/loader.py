"""GPT-2 (OpenAI, 124 M parameters): learned positions, fused QKV ``Conv1D`` projections, GELU.

Built on the causal-LM task base (:mod:`...tasks.causal_lm`): the prompt, prefill and decode
inputs, greedy generation. No tensor-parallel layout is declared (its fused ``c_attn`` needs a
split of its own), so ``get_mesh_config`` is upstream's ``(None, ())``.
"""

from __future__ import annotations

from ...config import LLMModelConfig, ModelSource, ModelTask, StrEnum
from ...tasks.causal_lm import PROMPT, CausalLMLoader


class ModelVariant(StrEnum):
    GPT2 = "gpt2"


class ModelLoader(CausalLMLoader):
    _VARIANTS = {
        ModelVariant.GPT2: LLMModelConfig(
            pretrained_model_name="openai-community/gpt2",
            source=ModelSource.HUGGING_FACE,
            task=ModelTask.NLP_CAUSAL_LM,
            revision="607a30d783dfa663caf39e06633721c8d4cfcd7e",
            config_file="configs/openai-community-gpt2.json",
            model_class="GPT2LMHeadModel",
            layers_key="n_layer",
            num_params=124_439_808,
            test_num_layers=2,
            test_num_params=53_561_088,
            prompt=PROMPT,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.GPT2
