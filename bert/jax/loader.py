"""BERT in JAX: our own Flax linen BERT (``src/model.py``) with the PyTorch loader's weights, for
every row of the PyTorch table (question answering, masked LM, sequence and token classification,
sentence embeddings; the MiniLM mirror gives real weights offline).

The Flax class follows the transformers class the row builds; outputs carry the Hugging Face names
(``start_logits``/``end_logits``, ``logits``, ``last_hidden_state``/``pooler_output``), so they
decode with the PyTorch task's ``decode_output``.
"""

from __future__ import annotations

from typing import Any

from ...config import ModelTask
from ...frameworks.jax_loader import JaxLoader
from ..pytorch.loader import ModelLoader as TorchModelLoader
from ..pytorch.loader import ModelVariant

__all__ = ["ModelLoader", "ModelVariant"]


class ModelLoader(JaxLoader):
    TORCH_LOADER = TorchModelLoader

    def flax_module(self, torch_model: Any) -> Any:
        from .src.model import flax_module_for

        return flax_module_for(torch_model)

    def conversion(self, torch_model: Any) -> tuple[Any, tuple[str, ...]]:
        from .src.convert import SKIP, rules

        return rules(torch_model.config), SKIP

    def unpack_forward_output(self, output: Any) -> Any:
        """As the PyTorch task: question answering stacks start and end logits on a last axis of
        2; embeddings give the last hidden state; the other tasks their logits."""
        if self._variant_config.task == ModelTask.NLP_QA and isinstance(output, dict):
            import jax.numpy as jnp

            return jnp.stack([output["start_logits"], output["end_logits"]], axis=-1)
        return super().unpack_forward_output(output)
