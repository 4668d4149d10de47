"""torchvision builders and their weights enums (``ResNet50_Weights.IMAGENET1K_V2``)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
import torchvision

from ..errors import CorruptWeightsError, WeightsUnavailableError
from . import check_sha256, download_verified, read_state_dict
from .constructed import ConstructedSource
from .materialize import build_from_state_dict


class TorchvisionSource(ConstructedSource):
    """A torchvision builder and one member of its weights enum.

    The checkpoint lives in the torch hub cache under torchvision's file name. Before use, the whole
    file is checked against ``sha256`` (the full digest the variant table records); a row that
    records none is checked against the digest prefix torchvision publishes in the file name
    (``resnet18-f37072fd.pth``), computed from the file's content, never trusted from its name.
    """

    host = "download.pytorch.org"

    def __init__(self, builder: str, weights_tag: str, sha256: str | None = None) -> None:
        if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower())):
            raise ValueError(f"{builder}: sha256 must be 64 hex digits, got {sha256!r}")
        self.builder = builder
        self.weights_tag = weights_tag
        self.sha256 = sha256.lower() if sha256 else None

    @property
    def weights_enum(self) -> Any:
        return torchvision.models.get_model_weights(self.builder)[self.weights_tag]

    def construct(self) -> torch.nn.Module:
        """The plain framework build: fp32, the framework's own init."""
        return torchvision.models.get_model(self.builder, weights=None)

    def init_(self, model: torch.nn.Module) -> None:
        from .torchvision_init import torchvision_init_

        torchvision_init_(model)

    def describe(self) -> str:
        return f"torchvision {self.builder} {type(self.weights_enum).__name__}.{self.weights_tag}"

    def cache_file(self) -> Path:
        return Path(torch.hub.get_dir()) / "checkpoints" / Path(self.weights_enum.url).name

    def expected_digest(self) -> tuple[str | None, bool]:
        """(digest, is_prefix): the full sha256 of the row, else the prefix in torchvision's file name."""
        if self.sha256:
            return self.sha256, False
        match = re.search(r"-([0-9a-f]{8,})\.", Path(self.weights_enum.url).name)
        return (match.group(1), True) if match else (None, False)

    def remedy(self) -> str:
        return (
            f"put {Path(self.weights_enum.url).name} (from {self.weights_enum.url}) into "
            f"{self.cache_file().parent} or run `python -m tt_forge_models prefetch` with network; "
            "or pass weights='random'"
        )

    def load_pretrained(self, *, dtype: Any, offline: bool, **kwargs: Any) -> torch.nn.Module:
        self.check_options(kwargs)
        path = self._verified_file(offline=offline)
        try:
            state = read_state_dict(path)
        except CorruptWeightsError as err:
            raise CorruptWeightsError(f"{err}. To fix: delete {path} and {self.remedy()}") from err
        return build_from_state_dict(self.construct, state, dtype=dtype, origin=str(path))

    def _verified_file(self, *, offline: bool) -> Path:
        path = self.cache_file()
        digest, prefix = self.expected_digest()
        if not path.is_file():
            if offline:
                raise WeightsUnavailableError(f"{path} is not in the torch hub cache")
            download_verified(self.weights_enum.url, path, sha256=digest, prefix=prefix)
        if digest is not None:
            check_sha256(path, digest, what=f"{self.describe()} from {self.weights_enum.url}", prefix=prefix)
        return path

    def is_cached(self) -> bool:
        return self.cache_file().is_file()

    def prefetch(self) -> None:
        self._verified_file(offline=False)

    def transforms(self, crop_size: int | None = None) -> Any:
        """The weights' own preprocessing, scaled to ``crop_size`` when the variant asks for one."""
        default = self.weights_enum.transforms()
        if crop_size is None or crop_size == default.crop_size[0]:
            return default
        ratio = default.resize_size[0] / default.crop_size[0]
        return self.weights_enum.transforms(crop_size=crop_size, resize_size=round(crop_size * ratio))

    def categories(self) -> list[str]:
        return list(self.weights_enum.meta["categories"])
