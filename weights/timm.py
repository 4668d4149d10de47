"""timm architectures with a pretrained tag (``resnet50.a1_in1k``) at a pinned hub revision."""

from __future__ import annotations

from typing import Any

import timm
import torch

from ..errors import CorruptWeightsError, one_line
from .constructed import ConstructedSource
from .huggingface import hub_file, is_hub_cached
from .materialize import construct_on_meta, materialize_
from .policy import hub_endpoint


class TimmSource(ConstructedSource):
    hub = True

    def __init__(self, architecture: str, tag: str, revision: str | None) -> None:
        self.architecture = architecture
        self.tag = tag
        self.revision = revision

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.tag}"

    @property
    def host(self) -> str:  # type: ignore[override]
        return hub_endpoint()

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        return timm.models.get_pretrained_cfg(self.name).to_dict()

    @property
    def repo_id(self) -> str:
        return self.pretrained_cfg["hf_hub_id"]

    def construct(self) -> torch.nn.Module:
        """The plain framework build: fp32, the framework's own init."""
        return timm.create_model(self.name, pretrained=False)

    def describe(self) -> str:
        return f"timm {self.name} (hub {self.repo_id}@{self.revision or 'main'})"

    def remedy(self) -> str:
        return (
            f"fill the Hugging Face cache (HF_HOME) with {self.repo_id} at revision {self.revision} "
            "(`python -m tt_forge_models prefetch` on a machine with network), or pass weights='random'"
        )

    def load_pretrained(self, *, dtype: Any, offline: bool, **kwargs: Any) -> torch.nn.Module:
        self.check_options(kwargs)
        path = hub_file(self.repo_id, "model.safetensors", self.revision, offline=offline)
        model = materialize_(construct_on_meta(self.construct, buffers_on_meta=False), dtype)
        # timm's own loader: applies the architecture's checkpoint filter and class-count adaptation.
        cfg = dict(self.pretrained_cfg, file=path, hf_hub_id=None, url=None)
        try:
            timm.models.load_pretrained(model, pretrained_cfg=cfg)
        except Exception as err:  # noqa: BLE001 - SafetensorError, RuntimeError (shapes), OSError
            raise CorruptWeightsError(
                f"cannot load {path}: {one_line(err)}. It is corrupt or another model's: delete it and {self.remedy()}"
            ) from err
        return model

    def is_cached(self) -> bool:
        return is_hub_cached(self.repo_id, "model.safetensors", self.revision)

    def prefetch(self) -> None:
        hub_file(self.repo_id, "model.safetensors", self.revision, offline=False)

    def transforms(self) -> Any:
        """timm's resolved eval transform for this tag (size, crop, interpolation, mean, std)."""
        config = timm.data.resolve_data_config(pretrained_cfg=self.pretrained_cfg)
        return timm.data.create_transform(**config)
