"""Qwen2.5 causal language models: grouped-query attention with QKV bias and a rope of base 1e6.

A table on the causal-LM task base (:mod:`...tasks.causal_lm`), like Llama: the project's prompt,
prefill and decode inputs, greedy generation and the Megatron layout. Every device must keep whole
KV heads (two in the small rows), so from 4 devices up the mesh has two rows of data parallel.
"""

from __future__ import annotations

from ...config import StrEnum
from ...tasks.causal_lm import CausalLMLoader, causal_lm_row


class ModelVariant(StrEnum):
    QWEN_2_5_0_5B = "qwen_2_5_0_5b"
    QWEN_2_5_1_5B_INSTRUCT = "qwen_2_5_1_5b_instruct"
    QWEN_2_5_7B_INSTRUCT = "qwen_2_5_7b_instruct"


def _qwen(hub_id: str, revision: str, num_params: int, test_num_params: int, rows_from: int, **narrow: int):
    return causal_lm_row(
        hub_id,
        revision,
        "Qwen2ForCausalLM",
        num_params,
        test_num_layers=1,
        test_overrides=narrow,
        test_num_params=test_num_params,
        mesh_batch_rows=2,
        mesh_batch_rows_from=rows_from,
    )


class ModelLoader(CausalLMLoader):
    # Published counts, checked on meta (tied embeddings once). The test build is one layer. The 7B's
    # is also narrowed to the 0.5B's widths (hidden 896, MLP 4864) with its own 28 query and 4 KV
    # heads (of 32 dimensions) and untied head: at full width its embeddings and head alone are
    # 1.1 G parameters, over the default suite's limit.
    _VARIANTS = {
        ModelVariant.QWEN_2_5_0_5B: _qwen(
            "Qwen/Qwen2.5-0.5B", "060db6499f32faf8b98477b0a26969ef7d8b9987", 494_032_768, 151_047_936, 4
        ),
        ModelVariant.QWEN_2_5_1_5B_INSTRUCT: _qwen(
            "Qwen/Qwen2.5-1.5B-Instruct", "989aa7980e4cf806f80c7fef2b1adb7bc71aa306", 1_543_714_304, 280_173_056, 4
        ),
        ModelVariant.QWEN_2_5_7B_INSTRUCT: _qwen(
            "Qwen/Qwen2.5-7B-Instruct",
            "a09a35458c702b33eeacc393d103063234e8bc28",
            7_615_616_512,
            287_411_968,
            8,
            hidden_size=896,
            intermediate_size=4864,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.QWEN_2_5_0_5B
    TENSOR_PARALLEL = {
        "column": ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"),
        "row": ("o_proj", "down_proj"),
        "output_column": ("lm_head",),
    }
