"""The source interface every origin of weights implements, and the policy that drives it.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WeightsFallbackWarning, WeightsUnavailableError
from .export import check_export_folder
from .policy import offline_reason, resolve_choice

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


class WeightsSource:
    """How one source builds a variant: random, pretrained, or from a local path.

    Subclasses live beside this module (Hugging Face, torchvision, timm, Darknet) and import their
    heavy libraries inside methods.
    """

    #: where the pretrained weights are fetched from, probed before any download
    host: str = ""

    #: whether the weights come from the Hugging Face hub, so ``HF_HUB_OFFLINE`` holds too
    hub: bool = False

    def describe(self) -> str:
        """One line naming the weights (hub id and revision, enum, URL)."""
        raise NotImplementedError

    def remedy(self) -> str:
        """How a user gets the pretrained weights onto this machine."""
        return (
            "run `python -m tt_forge_models prefetch` on a machine with network and copy its "
            "caches here, or pass weights='random' for the exact architecture with random weights"
        )

    def construct(self) -> "nn.Module":
        """The plain framework build (fp32, its own init): the baseline benchmarks compare to."""
        raise NotImplementedError

    def load_config(self, **kwargs: Any) -> Any:
        """The architecture config without weights, or None for a source that has none (then
        there is nothing for keywords to change, and any keyword is a TypeError)."""
        if kwargs:
            raise TypeError(
                f"{', '.join(sorted(kwargs))}: {self.describe()} has no architecture config for keywords to change"
            )
        return None

    def build_meta(self, **kwargs: Any) -> "nn.Module":
        raise NotImplementedError

    def build_random(self, *, dtype: "torch.dtype | None", seed: int, **kwargs: Any) -> "nn.Module":
        raise NotImplementedError

    def load_pretrained(self, *, dtype: "torch.dtype | None", offline: bool, **kwargs: Any) -> "nn.Module":
        """Load the pinned weights; with ``offline`` read only the caches.

        Raise :class:`WeightsUnavailableError` (with no remedy text; the policy adds it) when they
        cannot be had.
        """
        raise NotImplementedError

    def load_path(self, path: Path, *, dtype: "torch.dtype | None", **kwargs: Any) -> "nn.Module":
        raise NotImplementedError

    def offline_reason(self) -> str | None:
        """Why only the caches may be read (a switch, or the host not answering), else None: the
        package's one rule, :func:`.policy.offline_reason`."""
        return offline_reason(self.host, hub=self.hub)

    def offline(self) -> bool:
        """Whether to read only the caches."""
        return self.offline_reason() is not None

    def is_cached(self) -> bool:
        """Whether the pretrained weights are already on this machine."""
        return False

    def estimate_bytes(self, *, dtype: "torch.dtype | None", path: Path | None = None, **kwargs: Any) -> int | None:
        """Bytes the weights will take once allocated (parameters times dtype size), or None.

        :func:`load_with_policy` checks it against available memory before building anything, so
        a model that cannot fit is refused in well under a second instead of swapping. ``path`` is
        set when the weights come from a local folder or file.
        """
        return None

    def prefetch(self) -> None:
        """Download the pretrained weights (and tokenizer or processor) into the usual caches."""
        raise NotImplementedError


@dataclass
class LoadedWeights:
    model: "nn.Module"
    source: str  # "pretrained", "random", "meta" or "local:<path>"


def load_with_policy(
    source: WeightsSource,
    weights: str | os.PathLike | None,
    *,
    variant_name: str,
    dtype: "torch.dtype | None",
    seed: int = 0,
    device: str | None = None,
    model_name: str | None = None,
    **kwargs: Any,
) -> LoadedWeights:
    """Apply the weights policy for one variant and return the model with where it came from."""
    choice = resolve_choice(weights)  # checked even for a shape-only build: a typo is a typo
    if device == "meta":
        return LoadedWeights(source.build_meta(dtype=dtype, **kwargs), "meta")
    # Refuse before any download or allocation: pretrained, random and local all land in memory.
    _check_fits(source, variant_name, dtype=dtype, path=choice if isinstance(choice, Path) else None, **kwargs)
    if isinstance(choice, Path):
        check_export_folder(choice, model=model_name, variant=variant_name)
        return LoadedWeights(source.load_path(choice, dtype=dtype, **kwargs), f"local:{choice}")
    if choice == "random":
        return LoadedWeights(source.build_random(dtype=dtype, seed=seed, **kwargs), "random")
    offline = source.offline()
    try:
        model = source.load_pretrained(dtype=dtype, offline=offline, **kwargs)
        provenance = getattr(source, "provenance", None)  # e.g. the mirror package that held them
        return LoadedWeights(model, f"pretrained (mirror: {provenance})" if provenance else "pretrained")
    except WeightsUnavailableError as err:
        message = (
            f"pretrained weights for variant {variant_name!r} ({source.describe()}) are not "
            f"available{' offline' if offline else ''}: {err}. To fix: {source.remedy()}."
        )
        if choice == "pretrained":
            raise WeightsUnavailableError(message) from err
    warnings.warn(
        f"{message} Using random weights instead (weights='auto').",
        WeightsFallbackWarning,
        stacklevel=3,
    )
    return LoadedWeights(source.build_random(dtype=dtype, seed=seed, **kwargs), "random")


def _check_fits(source: WeightsSource, variant_name: str, *, dtype: Any, path: Path | None, **kwargs: Any) -> None:
    from .memory import check_fits

    nbytes = source.estimate_bytes(dtype=dtype, path=path, **kwargs)
    if nbytes is not None:
        check_fits(nbytes, f"variant {variant_name!r} ({source.describe()}) in {dtype or 'float32'}")
