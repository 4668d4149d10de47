"""Llama causal language models: Llama 3, 3.1, 3.2 and 3.3 from Meta, and TinyLlama.

Every variant's published architecture ships in ``configs/``, so ``weights="random"`` builds the
exact model with no token and no network (the meta-llama repositories are gated on the hub).
``"pretrained"`` loads the pinned revision through transformers and its cache.

Inputs, decoding, generation and the tensor-parallel layout come from the causal-LM task base
(:mod:`...tasks.causal_lm`): one prompt written for this project, tokenized and left-padded to the
row's ``max_length`` or ``seq_len=``; ``load_inputs(mode="decode")`` for a decode step without
weights; :meth:`ModelLoader.load_decode_inputs` for the same from a model's own prefill.
"""

from __future__ import annotations

from typing import Any

from ...base import ForgePrefillModel
from ...config import LLMModelConfig, ModelGroup, StrEnum
from ...tasks.causal_lm import CausalLMLoader, causal_lm_row


class ModelVariant(StrEnum):
    LLAMA_3_2_1B = "llama_3_2_1b"
    LLAMA_3_2_1B_INSTRUCT = "llama_3_2_1b_instruct"
    LLAMA_3_2_3B = "llama_3_2_3b"
    LLAMA_3_2_3B_INSTRUCT = "llama_3_2_3b_instruct"
    LLAMA_3_1_8B = "llama_3_1_8b"
    LLAMA_3_1_8B_INSTRUCT = "llama_3_1_8b_instruct"
    LLAMA_3_8B = "llama_3_8b"
    LLAMA_3_8B_INSTRUCT = "llama_3_8b_instruct"
    LLAMA_3_1_70B = "llama_3_1_70b"
    LLAMA_3_1_70B_INSTRUCT = "llama_3_1_70b_instruct"
    LLAMA_3_3_70B_INSTRUCT = "llama_3_3_70b_instruct"
    TINYLLAMA_V1_1 = "tinyllama_v1_1"


def _llama(hub_id: str, revision: str, num_params: int, test_num_params: int, **kw: Any) -> LLMModelConfig:
    return causal_lm_row(
        hub_id, revision, "LlamaForCausalLM", num_params, test_num_layers=1, test_num_params=test_num_params, **kw
    )


# Parameter counts are the published ones, checked by building each row on the meta device (tied
# embeddings counted once). The test build is one decoder layer: the 8B and 70B rows keep 1-3 G
# parameters of embeddings and head even then, so their test.num_params put them under `large`.
_1B, _1B_TEST = 1_235_814_400, 323_491_840
_3B, _3B_TEST = 3_212_749_824, 494_674_944
_8B, _8B_TEST = 8_030_261_248, 1_268_789_248
_70B, _70B_TEST = 70_553_706_496, 2_957_008_896
# The 70B rows take a 2-D mesh from 8 devices up: 2 rows of data parallel, tensor parallel along each.
_MESH_70B = {"mesh_batch_rows": 2, "mesh_batch_rows_from": 8}


class ModelLoader(CausalLMLoader):
    _VARIANTS = {
        ModelVariant.LLAMA_3_2_1B: _llama(
            "meta-llama/Llama-3.2-1B", "4e20de362430cd3b72f300e6b0f18e50e7166e08", _1B, _1B_TEST
        ),
        ModelVariant.LLAMA_3_2_1B_INSTRUCT: _llama(
            "meta-llama/Llama-3.2-1B-Instruct",
            "9213176726f574b556790deb65791e0c5aa438b6",
            _1B,
            _1B_TEST,
            group=ModelGroup.RED,
        ),
        ModelVariant.LLAMA_3_2_3B: _llama(
            "meta-llama/Llama-3.2-3B", "13afe5124825b4f3751f836b40dafda64c1ed062", _3B, _3B_TEST
        ),
        ModelVariant.LLAMA_3_2_3B_INSTRUCT: _llama(
            "meta-llama/Llama-3.2-3B-Instruct",
            "0cb88a4f764b7a12671c53f0838cd831a0843b95",
            _3B,
            _3B_TEST,
            group=ModelGroup.PRIORITY,
        ),
        ModelVariant.LLAMA_3_1_8B: _llama(
            "meta-llama/Llama-3.1-8B", "d04e592bb4f6aa9cfee91e2e20afa771667e1d4b", _8B, _8B_TEST
        ),
        ModelVariant.LLAMA_3_1_8B_INSTRUCT: _llama(
            "meta-llama/Llama-3.1-8B-Instruct",
            "0e9e39f249a16976918f6564b8830bc894c89659",
            _8B,
            _8B_TEST,
            group=ModelGroup.PRIORITY,
        ),
        ModelVariant.LLAMA_3_8B: _llama(
            "meta-llama/Meta-Llama-3-8B", "8cde5ca8380496c9a6cc7ef3a8b46a0372a1d920", _8B, _8B_TEST
        ),
        ModelVariant.LLAMA_3_8B_INSTRUCT: _llama(
            "meta-llama/Meta-Llama-3-8B-Instruct", "8afb486c1db24fe5011ec46dfbe5b5dccdb575c2", _8B, _8B_TEST
        ),
        ModelVariant.LLAMA_3_1_70B: _llama(
            "meta-llama/Llama-3.1-70B", "349b2ddb53ce8f2849a6c168a81980ab25258dac", _70B, _70B_TEST, **_MESH_70B
        ),
        ModelVariant.LLAMA_3_1_70B_INSTRUCT: _llama(
            "meta-llama/Llama-3.1-70B-Instruct",
            "1605565b47bb9346c5515c34102e054115b4f98b",
            _70B,
            _70B_TEST,
            **_MESH_70B,
        ),
        ModelVariant.LLAMA_3_3_70B_INSTRUCT: _llama(
            "meta-llama/Llama-3.3-70B-Instruct",
            "6f6073b423013f6a7d4d9f39144961bfbfbc386b",
            _70B,
            _70B_TEST,
            **_MESH_70B,
        ),
        ModelVariant.TINYLLAMA_V1_1: _llama(
            "TinyLlama/TinyLlama_v1.1", "ff3c701f2424c7625fdefb9dd470f45ef18b02d6", 1_100_048_384, 175_118_336
        ),
    }
    DEFAULT_VARIANT = ModelVariant.LLAMA_3_2_1B_INSTRUCT
    TENSOR_PARALLEL = {
        "column": ("q_proj", "k_proj", "v_proj", "gate_proj", "up_proj"),
        "row": ("o_proj", "down_proj"),
        "output_column": ("lm_head",),
    }


class ModelLoaderPrefill(ModelLoader, ForgePrefillModel):
    """The same variants for consumers' prefill sweeps (tt-xla's ``test_llms_torch``): they run
    ``ModelLoader`` through their generic and decode tests and this class through prefill, with
    ``load_inputs_prefill(dtype_override, batch_size, seq_len)`` and
    ``load_shard_spec(model, strategy="fsdp" | "megatron", batch_axis=...)``."""
