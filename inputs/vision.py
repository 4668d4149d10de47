"""Images for vision models: the sample photographs shipped in ``assets/`` and the constants
used when a source's own preprocessing cannot be had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent.parent / "assets"

# The documented ImageNet normalisation (torchvision, timm and Hugging Face all use it).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def sample_image(name: str = "chelsea.jpg") -> Any:
    """A real photograph from ``assets/`` as an RGB PIL image."""
    from PIL import Image

    path = ASSETS / name
    if not path.is_file():
        available = ", ".join(sorted(p.name for p in ASSETS.glob("*.jpg")))
        raise FileNotFoundError(f"no sample image {name!r} in {ASSETS}; available: {available}")
    with Image.open(path) as image:
        return image.convert("RGB")


def batch(tensor: Any, batch_size: int) -> Any:
    """Repeat one CHW image into an NCHW batch (a copy, so callers may write into it)."""
    return tensor.unsqueeze(0).repeat(batch_size, *([1] * tensor.dim())).contiguous()


def fallback_classification_transform(size: int, resize: int | None = None) -> Any:
    """Resize the short side, centre-crop ``size`` and normalise with the ImageNet constants."""
    from torchvision.transforms import v2

    import torch

    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(resize or round(size / 0.875), antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
