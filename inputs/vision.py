"""Images for vision models: the sample photographs shipped in ``assets/`` and the constants
used when a source's own preprocessing cannot be had."""

from __future__ import annotations

from pathlib import Path
from typing import Any

ASSETS = Path(__file__).resolve().parent.parent / "assets"

# The documented ImageNet normalisation (torchvision, timm and Hugging Face all use it).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# OpenAI CLIP's normalisation (its own preprocessing and CLIPImageProcessor's defaults).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


def sample_image(name: Any = "chelsea.jpg") -> Any:
    """An RGB PIL image: a photograph shipped in ``assets/``, named by its file name (a ``str``).

    A ``str`` is only ever an asset name, so a caller's string can never make a loader read an
    arbitrary file. To read your own image, opt in explicitly with a ``pathlib.Path`` (any
    ``os.PathLike``). Anything else is a TypeError; an unknown asset name a ValueError listing them.
    """
    import os

    from PIL import Image, UnidentifiedImageError

    if isinstance(name, os.PathLike):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"image {str(path)!r} is not a file")
    elif isinstance(name, str):
        available = sorted(p.name for p in ASSETS.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        if name not in available:
            raise ValueError(
                f"no sample image {name!r} in assets/; available: {', '.join(available)}. To read your "
                "own image, pass a pathlib.Path"
            )
        path = ASSETS / name
    else:
        raise TypeError(
            f"image must be the name of a shipped sample (str) or a pathlib.Path you choose, got "
            f"{type(name).__name__} {name!r}"
        )
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (UnidentifiedImageError, OSError) as err:
        raise ValueError(f"cannot read {str(path)!r} as an image: {err}") from err


def batch(tensor: Any, batch_size: int) -> Any:
    """Repeat one CHW image into an NCHW batch (a copy, so callers may write into it)."""
    from . import check_input_bytes

    nbytes = tensor.numel() * tensor.element_size() * batch_size
    check_input_bytes(nbytes, f"{batch_size} images of {tuple(tensor.shape)}")
    return tensor.unsqueeze(0).repeat(batch_size, *([1] * tensor.dim())).contiguous()


def fallback_classification_transform(size: int, resize: int | None = None) -> Any:
    """Resize the short side, centre-crop ``size`` and normalise with the ImageNet constants."""
    import torch
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(resize or round(size / 0.875), antialias=True),
            v2.CenterCrop(size),
            v2.ToDtype(torch.float32, scale=True),
            v2.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def processor_transform(
    size: int, *, mean: Any, std: Any, resize: int | None = None, interpolation: str = "bicubic"
) -> Any:
    """A Hugging Face image processor's eval steps with its documented constants, step for step as
    its torchvision backend runs them: the short side resized to ``resize`` (default ``size``;
    ``int`` for the long side) on uint8 with antialiasing, a centre crop of ``size`` at
    ``int((side - size) / 2)``, then one fused rescale and normalisation in float32. One PIL image
    in, one CHW float tensor out."""
    import torch
    from torchvision.transforms import v2
    from torchvision.transforms.v2 import functional as F

    mode = v2.InterpolationMode(interpolation)
    if resize is not None and resize < size:
        raise ValueError(f"resize ({resize}) must be at least the crop size ({size})")
    # Rescale (1/255) folded into the constants in float32, as the processor folds them.
    mean255, std255 = (torch.tensor(c, dtype=torch.float32) * (1.0 / (1 / 255)) for c in (mean, std))

    def transform(image: Any) -> Any:
        pixels = F.pil_to_tensor(image.convert("RGB"))
        height, width = pixels.shape[-2:]
        short, long = (height, width) if height <= width else (width, height)
        target = resize or size
        new_long = int(target * long / short)
        new_size = [target, new_long] if height <= width else [new_long, target]
        pixels = F.resize(pixels, new_size, interpolation=mode, antialias=True)
        top, left = int((pixels.shape[-2] - size) / 2), int((pixels.shape[-1] - size) / 2)
        pixels = F.crop(pixels, top, left, size, size)
        return F.normalize(pixels.to(torch.float32), mean255, std255)

    return transform


def own_image_processor(source: Any, stands_in: str, *, stacklevel: int = 2) -> Any | None:
    """The model's own image processor (``source.load_image_processor()``: the hub cache at the
    pinned revision, else the copy shipped beside the config), or ``None`` after one
    :class:`~..errors.PreprocessorFallbackWarning` that says why and what ``stands_in`` for it
    (the documented constants each task base then applies). ``stacklevel`` counts from the caller."""
    import warnings

    from ..errors import PreprocessorFallbackWarning, WeightsUnavailableError

    try:
        return source.load_image_processor()
    except WeightsUnavailableError as err:
        warnings.warn(
            f"{err}; preprocessing with {stands_in} instead", PreprocessorFallbackWarning, stacklevel=stacklevel + 1
        )
        return None
