"""Mamba causal language models: selective state spaces with a causal depthwise conv1d, no attention.

A table on the causal-LM task base (:mod:`...tasks.causal_lm`): the project's prompt, prefill
inputs (no positions: Mamba has none), a decode step whose cache is each layer's convolution and SSM
state (seeded random without weights, or the model's own after a prefill) and greedy generation.

The selective scan and the causal conv1d run transformers' reference PyTorch code: ``mamba_ssm`` and
``causal_conv1d`` (CUDA kernels) are not dependencies, and hub kernels (``kernels``) are never
requested. transformers binds its kernel functions when it imports Mamba, so the source refuses
to build where one of those packages took their place (:func:`kernel_functions_in_use`).

No tensor-parallel layout is declared: ``in_proj`` is one Linear whose output is the SSM input and
its gate side by side, so a contiguous slice of its rows is not a matching pair of channels (the
reason GPT-2's fused ``c_attn`` has none either); ``get_mesh_config`` is upstream's ``(None, ())``.
"""

from __future__ import annotations

from typing import Any

from ...config import StrEnum
from ...tasks.causal_lm import CausalLMLoader, causal_lm_row

#: transformers' Mamba functions that a kernel package may replace when it is installed
KERNEL_FUNCTIONS = (
    "causal_conv1d_fn",
    "causal_conv1d_update",
    "mamba_inner_fn",
    "mamba_selective_scan",
    "mamba_selective_state_update",
)

QUIRKS = (
    "no attention: a state-space model with a causal depthwise conv1d (kernel 4) and a selective scan per layer",
    "reference PyTorch path only: without mamba_ssm and causal_conv1d transformers runs its own selective scan "
    "(a Python loop over the sequence in eager and in torch.export; torch's associative_scan under torch.compile, "
    "the config's use_associative_scan) and F.conv1d; the source refuses to build if those kernel packages "
    "replaced them, and hub kernels are never requested",
    "no position ids; the decode step's cache holds each layer's conv state (batch, intermediate, 4) and "
    "SSM state (batch, intermediate, 16) instead of keys and values, and takes no attention mask",
    "the logits are float32 whatever the model's dtype (transformers casts them)",
)


class ModelVariant(StrEnum):
    MAMBA_130M = "mamba_130m"
    MAMBA_1_4B = "mamba_1_4b"


class ModelLoader(CausalLMLoader):
    # Published counts, checked on meta (the lm_head is tied to the embedding, counted once). The
    # test builds are one layer: 42.4 M parameters, 38.6 M of them the tied embedding (130m);
    # 129.4 M, 103.0 M of them the embedding (1.4b).
    _VARIANTS = {
        ModelVariant.MAMBA_130M: causal_lm_row(
            "state-spaces/mamba-130m-hf",
            "40e5d2bd7452abb3ca8fadbafe9131ee0e2c2f37",
            "MambaForCausalLM",
            129_135_360,
            test_num_layers=1,
            test_num_params=42_387_456,
            quirks=QUIRKS,
        ),
        ModelVariant.MAMBA_1_4B: causal_lm_row(
            "state-spaces/mamba-1.4b-hf",
            "6e46eae61c27280517feef46f536d16b91076f08",
            "MambaForCausalLM",
            1_372_178_432,
            test_num_layers=1,
            test_num_params=129_417_216,
            quirks=QUIRKS,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.MAMBA_130M

    def _build_source(self) -> Any:
        refused = kernel_functions_in_use()
        if refused:
            raise RuntimeError(
                f"{self._variant_config.pretrained_model_name}: transformers bound its Mamba functions to kernel "
                f"packages ({'; '.join(refused)}), but this loader runs its reference PyTorch path only; "
                "use an environment without mamba_ssm and causal_conv1d"
            )
        return super()._build_source()


def kernel_functions_in_use() -> list[str]:
    """``"<function> (<module>)"`` for each of transformers' Mamba functions that an installed kernel
    package (``mamba_ssm``, ``causal_conv1d``) replaced when transformers imported its Mamba model;
    ``[]`` when every one is transformers' own PyTorch code."""
    import inspect

    from transformers.models.mamba import modeling_mamba

    used = []
    for name in KERNEL_FUNCTIONS:
        function = getattr(modeling_mamba, name, None)
        reference = getattr(function, "__wrapped__", None)
        if reference is None:
            continue
        chosen = inspect.getclosurevars(function).nonlocals.get("implementation", reference)
        if chosen is not reference:
            used.append(f"{name} ({getattr(chosen, '__module__', None) or type(chosen).__name__})")
    return used
