"""Class names for decoded outputs, from packages that ship them (no download)."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, from torchvision's weights meta."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])
