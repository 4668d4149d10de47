"""Sources whose architecture is one plain constructor call (torchvision, timm, our own networks).

Building on meta, random init and loading a state-dict file all follow from ``construct()``, so
those sources write only where their pretrained weights come from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from . import WeightsSource, read_state_dict
from .materialize import build_from_state_dict, build_random, construct_on_meta, default_init_


class ConstructedSource(WeightsSource):
    def construct(self) -> nn.Module:
        raise NotImplementedError

    def check_options(self, kwargs: dict[str, Any]) -> None:
        """These architectures take no load options: a stray keyword (num_layers=2) is an error,
        not a silently ignored request."""
        if kwargs:
            raise TypeError(
                f"unexpected keyword arguments for {self.describe()}: {', '.join(sorted(kwargs))}; "
                "load_model accepts dtype_override, weights, seed and device"
            )

    def build_meta(self, *, dtype: Any = None, **kwargs: Any) -> nn.Module:
        self.check_options(kwargs)
        model = construct_on_meta(self.construct)
        return model.to(dtype) if dtype is not None else model

    def init_(self, model: nn.Module) -> None:
        """The one init pass of a random build: the architecture's own recipe where the source
        knows it, else the shared convolutional one."""
        default_init_(model)

    def build_random(self, *, dtype: Any, seed: int, **kwargs: Any) -> nn.Module:
        self.check_options(kwargs)
        return build_random(self.construct, dtype=dtype, seed=seed, init=self.init_)

    def load_path(self, path: Path, *, dtype: Any, **kwargs: Any) -> nn.Module:
        """A state dict: ``.safetensors``, a ``weights_only`` torch checkpoint or an export folder."""
        self.check_options(kwargs)
        return build_from_state_dict(self.construct, read_state_dict(path), dtype=dtype, origin=str(path))
