"""ResNet in JAX: our own Flax network (``src/model.py``) with the PyTorch loader's weights, for
every row of the PyTorch table (torchvision, timm and Hugging Face ResNets are one architecture)."""

from __future__ import annotations

from typing import Any

from ...frameworks.jax_loader import JaxLoader
from ..pytorch.loader import ModelLoader as TorchModelLoader
from ..pytorch.loader import ModelVariant

__all__ = ["ModelLoader", "ModelVariant"]


class ModelLoader(JaxLoader):
    TORCH_LOADER = TorchModelLoader

    def flax_module(self, torch_model: Any) -> Any:
        from .src.model import ResNet

        config = getattr(torch_model, "config", None)
        if config is not None:  # transformers' ResNet
            return ResNet(
                tuple(config.depths), config.layer_type == "bottleneck", config.num_labels, config.embedding_size
            )
        stages = [torch_model.layer1, torch_model.layer2, torch_model.layer3, torch_model.layer4]
        bottleneck = hasattr(stages[0][0], "conv3")
        return ResNet(
            tuple(len(s) for s in stages), bottleneck, torch_model.fc.out_features, torch_model.conv1.out_channels
        )

    def conversion(self, torch_model: Any) -> tuple[Any, tuple[str, ...]]:
        from .src.convert import SKIP, hugging_face_rules, torchvision_rules

        return (hugging_face_rules() if hasattr(torch_model, "config") else torchvision_rules()), SKIP
