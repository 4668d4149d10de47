"""One :class:`~tt_forge_models.weights.WeightsSource` per place weights come from.

Each module imports its heavy library (transformers, torchvision, timm) at its top, so import
these only inside a loader's methods, never at a loader's module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import ModelConfig, ModelSource

if TYPE_CHECKING:  # pragma: no cover
    from . import WeightsSource


def source_for(config: ModelConfig, loader_dir: Path) -> "WeightsSource":
    """The standard source for a variant row; ``loader_dir`` anchors its shipped config file."""
    if config.source == ModelSource.HUGGING_FACE:
        from .huggingface import HuggingFaceSource

        if config.config_file is None or config.model_class is None:
            raise TypeError(f"{config.pretrained_model_name}: a Hugging Face row needs config_file and model_class")
        return HuggingFaceSource(
            config.pretrained_model_name,
            revision=config.revision,
            config_file=Path(loader_dir) / config.config_file,
            model_class=config.model_class,
            mirrors=config.mirror_packages,
            layers_key=config.layers_key or "num_hidden_layers",
            mirror_sha256=config.extra.get("mirror_sha256"),
        )
    if config.source == ModelSource.TORCHVISION:
        from .torchvision import TorchvisionSource

        return TorchvisionSource(config.pretrained_model_name, config.weights_tag or "DEFAULT", config.weights_sha256)
    if config.source == ModelSource.TIMM:
        from .timm import TimmSource

        return TimmSource(config.pretrained_model_name, config.weights_tag or "", config.revision)
    raise NotImplementedError(f"no standard source for {config.source}; the loader must provide one")
