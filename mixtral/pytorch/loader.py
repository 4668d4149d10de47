"""Mixtral sparse mixtures of experts (Mistral AI): 8 experts per layer, each token routed to its top 2.

A table on the causal-LM task base (:mod:`...tasks.causal_lm`), like Llama: grouped-query attention
(8 KV heads), the project's prompt, prefill and decode inputs, greedy generation. Every decoder
layer is sparse, so the reduced test builds keep one layer with all 8 experts and top-2 routing,
narrowed (hidden and expert widths; the head counts stay) to stay below the suite's ``large`` mark.

Tensor parallelism: attention is Megatron's (q, k, v column-parallel, o_proj row-parallel), the
vocabulary projection column-parallel; transformers stores each layer's experts as two stacked 3-D
parameters (``experts.gate_up_proj``, ``experts.down_proj``), which are split by whole experts over
the model axis (expert parallelism; the router stays replicated), as upstream's loader and tt-xla's
MoE backend shard them. From 32 devices up the mesh has 4 rows of data parallel, 8 devices each
(the model axis must divide the 8 KV heads and the 8 experts).
"""

from __future__ import annotations

from typing import Any

from ...config import LLMModelConfig, StrEnum
from ...tasks.causal_lm import CausalLMLoader, causal_lm_row


class ModelVariant(StrEnum):
    MIXTRAL_8X7B = "mixtral_8x7b"
    MIXTRAL_8X22B = "mixtral_8x22b"


QUIRKS = (
    "every layer is a sparse MoE block: a softmax router picks the top 2 of 8 experts per token, so which "
    "expert weights a token meets depends on the data",
    "transformers' default experts implementation is grouped_mm: tokens sorted by expert, a histogram of "
    "counts, one grouped matmul per projection (a custom-op fallback under torch.compile in float32)",
    "the experts are two stacked 3-D parameters per layer (experts.gate_up_proj, experts.down_proj), not Linears",
)


def _mixtral(hub_id: str, revision: str, num_params: int, test_num_params: int, **narrow: Any) -> LLMModelConfig:
    return causal_lm_row(
        hub_id,
        revision,
        "MixtralForCausalLM",
        num_params,
        test_num_layers=1,
        test_overrides=narrow,
        test_num_params=test_num_params,
        mesh_batch_rows=4,
        mesh_batch_rows_from=32,
        quirks=QUIRKS,
    )


class ModelLoader(CausalLMLoader):
    # Published counts, checked on meta. The test builds are one (sparse) layer with all 8 experts
    # and top-2 routing, the published head counts, and hidden and expert widths narrowed in the
    # published ratios (3.5 and 8/3) so a head is 16 wide: 8x7B at 512/1792, 8x22B at 768/2048.
    _VARIANTS = {
        ModelVariant.MIXTRAL_8X7B: _mixtral(
            "mistralai/Mixtral-8x7B-v0.1",
            "985aa055896a8f943d4a9f2572e6ea1341823841",
            46_702_792_704,
            55_449_088,
            hidden_size=512,
            intermediate_size=1792,
        ),
        ModelVariant.MIXTRAL_8X22B: _mixtral(
            "mistralai/Mixtral-8x22B-v0.1",
            "b03e260818710044a2f088d88fab12bb220884fb",
            140_620_634_112,
            88_285_440,
            hidden_size=768,
            intermediate_size=2048,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.MIXTRAL_8X7B
    TENSOR_PARALLEL = {
        "column": ("q_proj", "k_proj", "v_proj"),
        "row": ("o_proj",),
        "output_column": ("lm_head",),
        "expert": ("experts.gate_up_proj", "experts.down_proj"),
    }
