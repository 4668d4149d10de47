"""Llama in JAX: our own Flax linen network (``src/model.py``) with the PyTorch loader's weights,
for every row of the PyTorch table (Llama 3, 3.1, 3.2, 3.3 and TinyLlama).

Variants, weights (pretrained at the pinned revision, or seeded random from the shipped config),
``num_layers=`` and config keywords, and the inputs (the prompt, left-padded, with its mask and
positions) are the PyTorch loader's; the forward returns ``{"logits": ...}`` for the whole
sequence (no KV cache). ``load_model(device="meta")`` gives shape-only variables at any size.
"""

from __future__ import annotations

from typing import Any

from ...frameworks.jax_loader import JaxLoader
from ..pytorch.loader import ModelLoader as TorchModelLoader
from ..pytorch.loader import ModelVariant

__all__ = ["ModelLoader", "ModelVariant"]


class ModelLoader(JaxLoader):
    TORCH_LOADER = TorchModelLoader

    def flax_module(self, torch_model: Any) -> Any:
        from .src.model import LlamaForCausalLM

        return LlamaForCausalLM.from_config(torch_model.config)

    def conversion(self, torch_model: Any) -> tuple[Any, tuple[str, ...]]:
        from .src.convert import SKIP, rules

        return rules(torch_model.config), SKIP
