"""Promptable mask generation (Segment Anything): the task base of SAM-style families, whose model
takes an image and point prompts and returns mask logits with a predicted IoU per mask.

The sample is a real photograph shipped in ``assets/`` (``SAMPLE_IMAGE``, the cat) with one point
on it, given in the photograph's own pixels (``SAMPLE_POINTS``). Both go through SAM's own
processor (``SamProcessor`` around the variant's cached image processor): the longest side
resized to the model's input size, the ImageNet mean and std, zero padding to the bottom and the
right, and the point scaled into the resized frame. When the processor cannot be had offline, the
documented constants of that processor stand in, computed the same way (one
:class:`~..errors.PreprocessorFallbackWarning`).

``decode_output`` gives, per image, every mask the model proposed: its predicted IoU, its area
and its bounding box in the photograph's pixels, after the masks are upscaled and cropped as
``SamProcessor.post_process_masks`` does. Only the standard library and ``base``/``config`` are
imported at module level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..base import ForgeModel
from ..config import InputSpec, ModelConfig, ModelGroup, ModelTask, TestSpec

SAMPLE_IMAGE = "chelsea.jpg"
#: A point prompt per shipped photograph, ``(x, y)`` in its own pixels: on the cat's face, between
#: its eyes (chelsea.jpg is 451x300; the eyes are at about x=170 and x=320, y=115).
SAMPLE_POINTS = {"chelsea.jpg": (225.0, 110.0)}

#: SAM's documented preprocessing (``SamImageProcessor``'s published settings): the longest side
#: to the input size, bilinear with antialiasing, rescale by 1/255, ImageNet mean and std, zeros
#: to the bottom and the right up to the square input.
RESCALE_FACTOR = 1 / 255
#: the threshold ``post_process_masks`` binarizes the upscaled mask logits at
MASK_THRESHOLD = 0.0


def mask_gen_row(
    weights: Any, params: int, size: int = 1024, group: ModelGroup = ModelGroup.GENERALITY, **test: Any
) -> ModelConfig:
    """A mask generator's row: its weights record, parameter count, square input size and test spec."""
    return ModelConfig(
        weights, ModelTask.CV_MASK_GEN, params, group, InputSpec(image_size=(3, size, size)), TestSpec(**test)
    )


@dataclass(frozen=True)
class ImageSizes:
    """Where a photograph went in the model's input: its ``original`` (height, width), the
    ``resized`` (height, width) it was scaled to before padding, and the padded ``input`` side."""

    original: tuple[int, int]
    resized: tuple[int, int]
    input: int


def resized_shape(original: tuple[int, int], longest_side: int) -> tuple[int, int]:
    """SAM's resize: the longest side to ``longest_side``, the other in proportion, rounded half up
    (``SamImageProcessor._get_preprocess_shape``)."""
    height, width = original
    scale = longest_side * 1.0 / max(height, width)
    return int(height * scale + 0.5), int(width * scale + 0.5)


def rescale_point(point: tuple[float, float], sizes: ImageSizes) -> tuple[float, float]:
    """A point ``(x, y)`` of the photograph in the resized frame the model sees, as SamProcessor
    scales it (``_normalize_coordinates``): x by the width ratio, y by the height ratio."""
    (old_h, old_w), (new_h, new_w) = sizes.original, sizes.resized
    return float(point[0]) * (new_w / old_w), float(point[1]) * (new_h / old_h)


def documented_transform(image: Any, size: int) -> Any:
    """SAM's preprocessing with its documented constants, computed as its image processor computes
    it: one RGB PIL image in, a ``(3, size, size)`` float32 tensor and its :class:`ImageSizes` out."""
    import numpy as np
    import torch
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as tvF

    from ..inputs.vision import IMAGENET_MEAN, IMAGENET_STD

    pixels = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1).contiguous()  # uint8 CHW
    sizes = ImageSizes(tuple(pixels.shape[-2:]), resized_shape(tuple(pixels.shape[-2:]), size), size)
    resized = tvF.resize(pixels, list(sizes.resized), interpolation=InterpolationMode.BILINEAR, antialias=True)
    # Rescale and normalise in one step, as the processor fuses them: (x - 255 mean) / (255 std).
    mean = torch.tensor(IMAGENET_MEAN) * (1.0 / RESCALE_FACTOR)
    std = torch.tensor(IMAGENET_STD) * (1.0 / RESCALE_FACTOR)
    normalized = tvF.normalize(resized.to(torch.float32), mean.tolist(), std.tolist())
    padded = torch.nn.functional.pad(normalized, (0, size - sizes.resized[1], 0, size - sizes.resized[0]))
    return padded, sizes


def post_process_masks(masks: Any, sizes: ImageSizes) -> Any:
    """Mask logits ``(..., h, w)`` of one image upscaled to the padded input, cropped to the resized
    photograph and scaled to its original size, bilinear (``SamProcessor.post_process_masks``
    without the threshold); float32."""
    import torch
    from torch.nn import functional as F

    lead = masks.shape[:-2]
    flat = masks.reshape(-1, 1, *masks.shape[-2:]).to(torch.float32)
    up = F.interpolate(flat, (sizes.input, sizes.input), mode="bilinear", align_corners=False)
    up = up[..., : sizes.resized[0], : sizes.resized[1]]
    out = F.interpolate(up, sizes.original, mode="bilinear", align_corners=False)
    return out.reshape(*lead, *sizes.original)


def mask_box(mask: Any) -> list[int] | None:
    """``[x_min, y_min, x_max, y_max]`` of a boolean mask's pixels (inclusive), ``None`` when empty."""
    import torch

    ys, xs = torch.nonzero(mask, as_tuple=True)
    if ys.numel() == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())]


def masks_and_scores(outputs: Any) -> tuple[Any, Any]:
    """``(pred_masks, iou_scores)`` of SamModel's outputs: its ModelOutput, a dict with those keys,
    or its tuple form ``(iou_scores, pred_masks, ...)`` as a compiled model hands it back."""
    import torch

    if isinstance(outputs, Mapping) or hasattr(outputs, "pred_masks"):
        get = outputs.get if isinstance(outputs, Mapping) else lambda k: getattr(outputs, k, None)
        masks, scores = get("pred_masks"), get("iou_scores")
    elif isinstance(outputs, (tuple, list)) and len(outputs) >= 2:
        scores, masks = outputs[0], outputs[1]
    else:
        masks = scores = None
    if not isinstance(masks, torch.Tensor) or not isinstance(scores, torch.Tensor):
        raise TypeError(
            "decode_output takes a mask generator's outputs: a ModelOutput or dict with pred_masks and "
            f"iou_scores, or its tuple (iou_scores, pred_masks); got {type(outputs).__name__}"
        )
    if masks.dim() != 5 or scores.shape != masks.shape[:3]:
        raise ValueError(
            "pred_masks must be (batch, prompts, masks, height, width) and iou_scores (batch, prompts, "
            f"masks), got {tuple(masks.shape)} and {tuple(scores.shape)}"
        )
    return masks, scores


def decode_masks(outputs: Any, sizes: ImageSizes, *, mask_threshold: float = MASK_THRESHOLD) -> list[list[dict]]:
    """Per image, one record per proposed mask, best predicted IoU first within each prompt:
    ``{"prompt", "mask", "iou", "area", "box"}`` with ``area`` the pixels above ``mask_threshold``
    and ``box`` their ``[x_min, y_min, x_max, y_max]`` (``None`` when empty), both in the
    original photograph after :func:`post_process_masks`."""
    import torch

    if isinstance(mask_threshold, bool) or not isinstance(mask_threshold, (int, float)):
        raise TypeError(f"mask_threshold must be a number, got {type(mask_threshold).__name__} {mask_threshold!r}")
    masks, scores = masks_and_scores(outputs)
    with torch.no_grad():
        binary = post_process_masks(masks.detach(), sizes) > mask_threshold
        scores = scores.detach().to(torch.float32)
    results = []
    for image in range(binary.shape[0]):
        records = []
        for prompt in range(binary.shape[1]):
            order = sorted(range(binary.shape[2]), key=lambda m: -float(scores[image, prompt, m]))
            for m in order:
                mask = binary[image, prompt, m]
                records.append(
                    {
                        "prompt": prompt,
                        "mask": m,
                        "iou": float(scores[image, prompt, m]),
                        "area": int(mask.sum()),
                        "box": mask_box(mask),
                    }
                )
        results.append(records)
    return results


def sam_random_init_(model: Any) -> None:
    """Redraw, after transformers' own init, the two kinds of tensor whose transformers init makes a
    random SAM degenerate (random builds only; a tied tensor is drawn once):

    - the point encoder's Gaussian matrix (every ``positional_embedding`` of shape ``(2, n)``) at
      std 1, as the original SAM draws it (``PositionEmbeddingRandom``, scale 1) and the checkpoint
      holds it. Transformers draws it at std ``hidden_size / 2`` (384 for ViT-B), which turns a
      point's sin/cos encoding chaotic under any rounding: bf16 against fp32 correlates at 0.3.
    - the ViT image encoder's linear and convolution weights at N(0, ``initializer_range``) of the
      whole model (0.02), as transformers initialises the rest of SamModel. Its vision config's
      1e-10 leaves the image embeddings near 1e-20 after the neck, so random masks would not depend
      on the image and a frontend's check of the image encoder would check nothing.
    """
    import torch

    seen: set[int] = set()
    with torch.no_grad():
        for module in model.modules():
            table = getattr(module, "positional_embedding", None)
            if isinstance(table, torch.nn.Parameter) and table.dim() == 2 and table.shape[0] == 2:
                if id(table) not in seen:
                    seen.add(id(table))
                    table.normal_(0.0, 1.0)
        std = model.config.initializer_range
        for module in model.vision_encoder.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and id(module.weight) not in seen:
                seen.add(id(module.weight))
                module.weight.normal_(0.0, std)


class MaskGenerationLoader(ForgeModel):
    """Inputs, preprocessing and decoding shared by promptable mask generators (SAM)."""

    def __init__(self, variant: Any = None) -> None:
        super().__init__(variant)
        #: where the last ``load_inputs`` put its photograph in the input (``decode_output`` reads it)
        self.image_sizes: ImageSizes | None = None

    def _build_source(self) -> Any:
        """The row's standard source, with SAM's correction of transformers' random init
        (:func:`sam_random_init_`)."""
        source = super()._build_source()
        source.random_init = sam_random_init_
        return source

    def _load_inputs(self, *, batch_size: int, image: Any = SAMPLE_IMAGE, point: Any = None) -> dict[str, Any]:
        """``pixel_values`` ``(batch, 3, size, size)`` and ``input_points`` ``(batch, 1, 1, 2)``:
        one point prompt per image, ``point`` ``(x, y)`` in the photograph's pixels (by default
        the sample's own, ``SAMPLE_POINTS``, or the centre of another photograph)."""
        import torch

        from ..inputs.vision import batch, sample_image

        photo = sample_image(image)
        point = self._check_point(point, image, photo.size)
        pixels, points, self.image_sizes = self._preprocess(photo, point)
        return {
            "pixel_values": batch(pixels, batch_size),
            "input_points": torch.tensor(points, dtype=torch.float32).reshape(1, 1, 1, 2).repeat(batch_size, 1, 1, 1),
        }

    @staticmethod
    def _check_point(point: Any, image: Any, size: tuple[int, int]) -> tuple[float, float]:
        width, height = size
        if point is None:
            own = SAMPLE_POINTS.get(image) if isinstance(image, str) else None
            return own or (width / 2, height / 2)
        if (
            not isinstance(point, (tuple, list))
            or len(point) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
        ):
            raise TypeError(f"point must be (x, y) in the image's pixels, got {type(point).__name__} {point!r}")
        x, y = (float(v) for v in point)
        if not (0 <= x <= width and 0 <= y <= height):
            raise ValueError(f"point {point!r} lies outside the {width}x{height} image")
        return x, y

    def _preprocess(self, photo: Any, point: tuple[float, float]) -> tuple[Any, tuple[float, float], ImageSizes]:
        """The image tensor, the point in the model's frame and the sizes, through SAM's own
        processor when it can be had, else its documented constants (with one warning)."""
        from ..inputs.vision import own_image_processor

        size = self._variant_config.inputs.image_size[1]
        stands_in = (
            f"SAM's documented constants (longest side {size}, ImageNet mean and std, zero padding to "
            f"{size}x{size} at the bottom and right)"
        )
        image_processor = own_image_processor(self.source, stands_in, stacklevel=4)
        if image_processor is None:
            pixels, sizes = documented_transform(photo, size)
            return pixels, rescale_point(point, sizes), sizes
        import transformers

        processed = transformers.SamProcessor(image_processor=image_processor)(
            images=photo, input_points=[[list(point)]], return_tensors="pt"
        )
        pixels = processed["pixel_values"][0]
        sizes = ImageSizes(
            tuple(int(v) for v in processed["original_sizes"][0]),
            tuple(int(v) for v in processed["reshaped_input_sizes"][0]),
            int(pixels.shape[-1]),
        )
        x, y = (float(v) for v in processed["input_points"][0, 0, 0])
        return pixels, (x, y), sizes

    def decode_output(
        self, outputs: Any, *, mask_threshold: float = MASK_THRESHOLD, image_sizes: ImageSizes | None = None
    ) -> list[list[dict[str, Any]]]:
        """Per image, every proposed mask best first: ``{"prompt", "mask", "iou", "area", "box"}``,
        area and box in the photograph's pixels through the sizes of the last ``load_inputs`` (or
        ``image_sizes``; the sample photograph's before any)."""
        from ..validation import check_outputs

        return decode_masks(check_outputs(outputs), image_sizes or self._sizes(), mask_threshold=mask_threshold)

    def _sizes(self) -> ImageSizes:
        if self.image_sizes is not None:
            return self.image_sizes
        from ..inputs.vision import sample_image

        width, height = sample_image(SAMPLE_IMAGE).size
        size = self._variant_config.inputs.image_size[1]
        return ImageSizes((height, width), resized_shape((height, width), size), size)

    def unpack_forward_output(self, output: Any) -> Any:
        """``pred_masks`` (``(batch, prompts, masks, 256, 256)`` mask logits): the output a frontend
        compares and a training step backpropagates. It holds 196,608 values per prompt that depend
        on every stage (image encoder, prompt encoder, two-way transformer, upscaling), where the
        three ``iou_scores`` hold too few values for a meaningful correlation."""
        return masks_and_scores(output)[0]


__all__ = [
    "ImageSizes",
    "MASK_THRESHOLD",
    "MaskGenerationLoader",
    "SAMPLE_IMAGE",
    "SAMPLE_POINTS",
    "decode_masks",
    "documented_transform",
    "mask_box",
    "mask_gen_row",
    "masks_and_scores",
    "post_process_masks",
    "rescale_point",
    "resized_shape",
    "sam_random_init_",
]
