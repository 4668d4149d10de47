"""Darknet networks (YOLOv3, YOLOv4 and their tiny forms) and their original ``.weights`` files.

Pretrained weights are the release files themselves, fetched from the URL the variant table
declares into the torch hub cache (``$TORCH_HOME/hub/checkpoints/<file name>``), checked against
the declared sha256 and read by :func:`..darknet.read_darknet_weights` straight into a model
materialised in the target dtype. Nothing is converted on disk, so a cache filled by hand with
the official file works as well.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

import torch
from torch import nn

from ..errors import WeightsUnavailableError
from ..weights import check_sha256, download_verified
from ..weights.constructed import ConstructedSource
from ..weights.materialize import construct_on_meta, materialize_
from .weights_file import read_darknet_weights

#: Local files ``load_path`` reads: the Darknet release format, or a converted state dict.
DARKNET_SUFFIX = ".weights"


class DarknetSource(ConstructedSource):
    """One Darknet network and its release file.

    ``network`` builds the PyTorch module (fp32, PyTorch's default init); ``name`` is the cfg name
    (``yolov4-tiny``). ``sha256=None`` leaves the file unchecked except for its exact size, which
    the Darknet reader always checks against the network.
    """

    def __init__(
        self,
        network: Callable[[], nn.Module],
        *,
        name: str,
        url: str | None,
        sha256: str | None,
    ) -> None:
        if sha256 is not None and (len(sha256) != 64 or not _is_hex(sha256)):
            raise ValueError(f"{name}: sha256 must be 64 hex digits, got {sha256!r}")
        self.network = network
        self.name = name
        self.url = url
        self.sha256 = sha256.lower() if sha256 else None
        self.host = (urlsplit(url).hostname or "") if url else ""

    # ---- description ---------------------------------------------------------------------------

    @property
    def file_name(self) -> str:
        if not self.url:
            raise WeightsUnavailableError(f"no release URL is declared for {self.name}")
        return Path(urlsplit(self.url).path).name

    def describe(self) -> str:
        checked = f"sha256 {self.sha256[:12]}..." if self.sha256 else "no sha256 declared"
        return f"Darknet {self.name} weights from {self.url or 'no URL'} ({checked})"

    def cache_file(self) -> Path:
        # Read the hub dir on every call: TORCH_HOME may change between calls (tests, users).
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name

    def remedy(self) -> str:
        if not self.url:
            return "pass weights='random' or the path of a .weights or .safetensors file"
        return (
            f"download {self.url} to {self.cache_file()} (`python -m tt_forge_models prefetch` "
            "does it on a machine with network), pass the path of a .weights or .safetensors "
            "file, or pass weights='random'"
        )

    # ---- building ------------------------------------------------------------------------------

    def construct(self) -> nn.Module:
        """The plain build: fp32, PyTorch's own init."""
        return self.network()

    def load_pretrained(self, *, dtype: Any, offline: bool, **kwargs: Any) -> nn.Module:
        self.check_options(kwargs)
        path = self.cache_file()
        if not path.is_file():
            if offline:
                raise WeightsUnavailableError(f"{path} is not in the torch hub cache")
            self._download(path)
        self.verify(path)
        return self._from_darknet(path, dtype)

    def load_path(self, path: Path, *, dtype: Any, **kwargs: Any) -> nn.Module:
        """A ``.weights`` release file, or a converted state dict: ``.safetensors``, a torch
        checkpoint read with ``weights_only=True``, or a ``tt-forge-models export`` folder."""
        self.check_options(kwargs)
        path = Path(path)
        if path.suffix == DARKNET_SUFFIX and not path.is_dir():
            if not path.is_file():  # before allocating a model for nothing
                raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
            return self._from_darknet(path, dtype)
        return super().load_path(path, dtype=dtype)

    def _from_darknet(self, path: Path, dtype: Any) -> nn.Module:
        # Storage in the target dtype first, then the reader casts each value into it: the model
        # never exists in fp32 on the way to bf16, and needs no init pass.
        model = construct_on_meta(self.construct, buffers_on_meta=False)
        materialize_(model, dtype)
        read_darknet_weights(model, path)
        return model

    # ---- the cache -----------------------------------------------------------------------------

    def is_cached(self) -> bool:
        return bool(self.url) and self.cache_file().is_file()

    def prefetch(self) -> None:
        path = self.cache_file()
        if not path.is_file():
            self._download(path)
        self.verify(path)

    def verify(self, path: Path) -> None:
        """Check the whole file against the declared sha256; a mismatch names both digests."""
        if self.sha256 is not None:
            check_sha256(path, self.sha256, what=f"{self.name} from {self.url}")

    def _download(self, path: Path) -> None:
        # Every read has a deadline, and the digest is checked before the file is moved into
        # place, so a bad download never lands in the cache.
        download_verified(self.url, path, sha256=self.sha256)


def _is_hex(text: str) -> bool:
    # Not int(text, 16): it also takes "0x" prefixes and underscores.
    return all(c in "0123456789abcdefABCDEF" for c in text)


__all__ = ["DARKNET_SUFFIX", "DarknetSource"]
