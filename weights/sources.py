"""One :class:`~tt_forge_models.weights.WeightsSource` per place weights come from.

Each module imports its heavy library (transformers, torchvision, timm, diffusers) at its top, so import
these only inside a loader's methods, never at a loader's module level.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..config import DiffusersWeights, HubWeights, ModelConfig, TimmWeights, TorchvisionWeights

if TYPE_CHECKING:  # pragma: no cover
    from . import WeightsSource


def source_for(config: ModelConfig, loader_dir: Path) -> "WeightsSource":
    """The standard source for a variant row, built from its typed weights record; ``loader_dir``
    anchors a shipped config file."""
    weights = config.weights
    if isinstance(weights, HubWeights):
        if weights.mirror_format == "ctranslate2":  # the same weights, converted from a CTranslate2 model
            from .ctranslate2 import CTranslate2MirrorSource as source_class
        else:
            from .huggingface import HuggingFaceSource as source_class

        return source_class(
            weights.repo_id,
            revision=weights.revision,
            config_file=Path(loader_dir) / weights.config_file,
            model_class=weights.model_class,
            mirrors=weights.mirror_packages,
            layers_key=weights.layers_key,
            layer_index_keys=weights.layer_index_keys,
            mirror_sha256=weights.mirror_sha256,
        )
    if isinstance(weights, TorchvisionWeights):
        from .torchvision import TorchvisionSource

        return TorchvisionSource(weights.builder, weights.tag, weights.sha256)
    if isinstance(weights, TimmWeights):
        from .timm import TimmSource

        return TimmSource(weights.architecture, weights.tag, weights.revision)
    if isinstance(weights, DiffusersWeights):
        from .diffusers import DiffusersSource

        return DiffusersSource.from_record(weights, loader_dir)
    raise NotImplementedError(
        f"no standard source for {type(weights).__name__} ({config.source}); the loader must provide one"
    )
