"""torchvision builders and their weights enums (``ResNet50_Weights.IMAGENET1K_V2``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchvision

from ..errors import WeightsUnavailableError
from ..materialize import build_from_state_dict
from .constructed import ConstructedSource


class TorchvisionSource(ConstructedSource):
    host = "download.pytorch.org"

    def __init__(self, builder: str, weights_tag: str) -> None:
        self.builder = builder
        self.weights_tag = weights_tag

    @property
    def weights_enum(self) -> Any:
        return torchvision.models.get_model_weights(self.builder)[self.weights_tag]

    def construct(self) -> torch.nn.Module:
        """The plain framework build: fp32, the framework's own init."""
        return torchvision.models.get_model(self.builder, weights=None)

    def describe(self) -> str:
        return f"torchvision {self.builder} {type(self.weights_enum).__name__}.{self.weights_tag}"

    def cache_file(self) -> Path:
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(self.weights_enum.url).name

    def remedy(self) -> str:
        return (
            f"put {Path(self.weights_enum.url).name} (from {self.weights_enum.url}) into "
            f"{self.cache_file().parent} or run `python -m tt_forge_models prefetch` with network; "
            "or pass weights='random'"
        )

    def load_pretrained(self, *, dtype: Any, offline: bool, **kwargs: Any) -> torch.nn.Module:
        self.check_options(kwargs)
        if offline and not self.is_cached():
            raise WeightsUnavailableError(f"{self.cache_file()} is not in the torch hub cache")
        try:
            state = torch.hub.load_state_dict_from_url(
                self.weights_enum.url, map_location="cpu", progress=True, check_hash=True, weights_only=True
            )
        except OSError as err:  # URLError and friends
            raise WeightsUnavailableError(f"download of {self.weights_enum.url} failed: {err}") from err
        return build_from_state_dict(self.construct, state, dtype=dtype, origin=self.weights_enum.url)

    def is_cached(self) -> bool:
        return self.cache_file().is_file()

    def prefetch(self) -> None:
        torch.hub.load_state_dict_from_url(
            self.weights_enum.url, map_location="meta", progress=True, check_hash=True, weights_only=True
        )

    def transforms(self, crop_size: int | None = None) -> Any:
        """The weights' own preprocessing, scaled to ``crop_size`` when the variant asks for one."""
        default = self.weights_enum.transforms()
        if crop_size is None or crop_size == default.crop_size[0]:
            return default
        ratio = default.resize_size[0] / default.crop_size[0]
        return self.weights_enum.transforms(crop_size=crop_size, resize_size=round(crop_size * ratio))

    def categories(self) -> list[str]:
        return list(self.weights_enum.meta["categories"])
