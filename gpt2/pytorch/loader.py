"""GPT-2 (OpenAI, 124 M parameters): learned positions, fused QKV ``Conv1D`` projections, GELU.

Built on the causal-LM task base (:mod:`...tasks.causal_lm`): the prompt, prefill and decode
inputs, greedy generation. No tensor-parallel layout is declared (its fused ``c_attn`` needs a
split of its own), so ``get_mesh_config`` is upstream's ``(None, ())``.
"""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.causal_lm import CausalLMLoader, causal_lm_row


class ModelVariant(StrEnum):
    GPT2 = "gpt2"


class ModelLoader(CausalLMLoader):
    _VARIANTS = {
        ModelVariant.GPT2: causal_lm_row(
            "openai-community/gpt2",
            "607a30d783dfa663caf39e06633721c8d4cfcd7e",
            "GPT2LMHeadModel",
            124_439_808,
            layers_key="n_layer",
            test_num_layers=2,
            test_num_params=53_561_088,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.GPT2
