"""timm architectures with a pretrained tag (``resnet50.a1_in1k``) at a pinned hub revision."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import timm
import torch

from ..materialize import build_from_state_dict, build_random, construct_on_meta, materialize_
from ..weights import WeightsSource, read_state_dict
from .huggingface import hub_file, hub_host, hub_offline, is_hub_cached


class TimmSource(WeightsSource):
    def __init__(self, architecture: str, tag: str, revision: str | None) -> None:
        self.architecture = architecture
        self.tag = tag
        self.revision = revision

    @property
    def name(self) -> str:
        return f"{self.architecture}.{self.tag}"

    @property
    def host(self) -> str:  # type: ignore[override]
        return hub_host()

    @property
    def pretrained_cfg(self) -> dict[str, Any]:
        return timm.models.get_pretrained_cfg(self.name).to_dict()

    @property
    def repo_id(self) -> str:
        return self.pretrained_cfg["hf_hub_id"]

    def offline(self) -> bool:
        return hub_offline()

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

    def build_meta(self, *, dtype: Any = None, **kwargs: Any) -> torch.nn.Module:
        model = construct_on_meta(self.construct)
        return model.to(dtype) if dtype is not None else model

    def build_random(self, *, dtype: Any, seed: int, **kwargs: Any) -> torch.nn.Module:
        return build_random(self.construct, dtype=dtype, seed=seed)

    def load_pretrained(self, *, dtype: Any, offline: bool, **kwargs: Any) -> torch.nn.Module:
        path = hub_file(self.repo_id, "model.safetensors", self.revision, offline=offline)
        model = materialize_(construct_on_meta(self.construct, buffers_on_meta=False), dtype)
        # timm's own loader: applies the architecture's checkpoint filter and class-count adaptation.
        cfg = dict(self.pretrained_cfg, file=path, hf_hub_id=None, url=None)
        timm.models.load_pretrained(model, pretrained_cfg=cfg)
        return model

    def load_path(self, path: Path, *, dtype: Any, **kwargs: Any) -> torch.nn.Module:
        return build_from_state_dict(self.construct, read_state_dict(path), dtype=dtype, origin=str(path))

    def is_cached(self) -> bool:
        return is_hub_cached(self.repo_id, "model.safetensors", self.revision)

    def prefetch(self) -> None:
        hub_file(self.repo_id, "model.safetensors", self.revision, offline=False)

    def transforms(self) -> Any:
        """timm's resolved eval transform for this tag (size, crop, interpolation, mean, std)."""
        config = timm.data.resolve_data_config(pretrained_cfg=self.pretrained_cfg)
        return timm.data.create_transform(**config)
