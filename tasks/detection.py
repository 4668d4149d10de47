"""YOLO pre- and post-processing shared by the Darknet families, and what every detector's decoding
shares (``clip_boxes``, ``detection_records``; DETR's set-prediction decoding is in
:mod:`.object_detection`).

``letterbox`` prepares an image the way Darknet's ``letterbox_image`` does. ``decode_yolo_outputs``
turns the raw maps a network's ``forward`` returns into boxes exactly as Darknet's ``[yolo]`` layer
does, and ``postprocess_detections`` adds class-aware NMS and maps the boxes back to the original
image. The networks themselves stop at the raw maps, so they stay exportable.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from .labels import COCO_CLASSES

# Darknet's `detector test` defaults.
DEFAULT_CONF_THRESHOLD = 0.25
DEFAULT_IOU_THRESHOLD = 0.45
DEFAULT_MAX_DETECTIONS = 100
# Only the best (box, class) candidates go into NMS. Trained weights leave a few hundred above the
# threshold; random weights can leave hundreds of thousands, which would make NMS take seconds.
DEFAULT_MAX_CANDIDATES = 5000

# Darknet fills the letterbox border with mid gray.
LETTERBOX_FILL = 0.5

# Every Darknet YOLO here downsamples 32x and concatenates maps of neighbouring scales, so input
# sides must be multiples of it.
NETWORK_STRIDE = 32

#: The photograph the YOLO loaders detect in by default: a person (NASA, public domain), 512x512.
SAMPLE_IMAGE = "astronaut.jpg"


@dataclass(frozen=True)
class YoloLayerSpec:
    """One ``[yolo]`` section: the anchors its mask selects, its stride and its ``scale_x_y``.

    Anchors are (width, height) in network-input pixels, as the cfg writes them.
    """

    anchors: tuple[tuple[float, float], ...]
    stride: int
    scale_x_y: float = 1.0

    @classmethod
    def from_cfg(
        cls, anchors: Sequence[float], mask: Sequence[int], stride: int, scale_x_y: float = 1.0
    ) -> "YoloLayerSpec":
        """Build from a cfg's flat ``anchors=`` list and its ``mask=`` indices."""
        if len(anchors) % 2:
            raise ValueError(f"anchors must hold (width, height) pairs, got {len(anchors)} numbers")
        pairs = [(float(w), float(h)) for w, h in zip(anchors[0::2], anchors[1::2], strict=True)]
        return cls(tuple(pairs[m] for m in mask), stride, scale_x_y)


@dataclass(frozen=True)
class LetterboxParams:
    """How an original image was placed in the network input: ``input = original * scale + pad``."""

    scale: float
    pad_x: float
    pad_y: float
    original_width: int
    original_height: int
    # The network input the image was placed in; None when unknown, which skips the check that
    # outputs and params belong together.
    input_width: int | None = None
    input_height: int | None = None


def letterbox_params_for(original_size: tuple[int, int], size: int | tuple[int, int]) -> LetterboxParams:
    """Where ``letterbox`` puts an image of ``original_size`` (width, height) in a ``size`` input.

    Arithmetic only, so boxes can be mapped back without touching the pixels again.
    """
    width, height = _input_size(size)
    orig_w, orig_h = original_size
    new_w, new_h = _fitted_size(orig_w, orig_h, width, height)
    return LetterboxParams(
        scale=min(width / orig_w, height / orig_h),
        pad_x=float((width - new_w) // 2),
        pad_y=float((height - new_h) // 2),
        original_width=orig_w,
        original_height=orig_h,
        input_width=width,
        input_height=height,
    )


def _input_size(size: int | tuple[int, int]) -> tuple[int, int]:
    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1:
        raise ValueError(f"letterbox size must be positive, got {size!r}")
    return width, height


def _fitted_size(orig_w: int, orig_h: int, width: int, height: int) -> tuple[int, int]:
    # Darknet's integer arithmetic: fit the side that limits, scale the other one down.
    if width * orig_h < height * orig_w:
        return width, max(1, orig_h * width // orig_w)
    return max(1, orig_w * height // orig_h), height


def letterbox(image, size: int | tuple[int, int]) -> tuple[torch.Tensor, LetterboxParams]:
    """Resize a PIL image keeping its aspect ratio and pad it to ``size``, like Darknet.

    ``size`` is a side length or ``(width, height)``. Returns a float32 RGB tensor of shape
    ``(3, height, width)`` in [0, 1] with the border filled with 0.5 gray, and the params that
    ``postprocess_detections`` needs to map boxes back to the original pixels.
    """
    import numpy as np
    from PIL import Image

    width, height = _input_size(size)
    image = image.convert("RGB")
    params = letterbox_params_for(image.size, (width, height))
    new_w, new_h = _fitted_size(*image.size, width, height)
    resized = image.resize((new_w, new_h), Image.BILINEAR)
    pad_x, pad_y = int(params.pad_x), int(params.pad_y)

    pixels = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy())
    canvas = torch.full((3, height, width), LETTERBOX_FILL, dtype=torch.float32)
    canvas[:, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = pixels.permute(2, 0, 1) / 255.0
    return canvas, params


def network_input_size(outputs: Sequence[torch.Tensor], layers: Sequence[YoloLayerSpec]) -> tuple[int, int]:
    """(width, height) of the input that produced ``outputs``: a map's grid times its stride."""
    if not outputs:
        raise ValueError("got no output maps")
    grid_h, grid_w = outputs[0].shape[-2:]
    return grid_w * layers[0].stride, grid_h * layers[0].stride


def concat_maps(outputs: Sequence[torch.Tensor]) -> torch.Tensor:
    """All raw maps as one ``(B, N)`` tensor: what a training step backpropagates through."""
    return torch.cat([out.flatten(1) for out in outputs], dim=1)


def decode_yolo_outputs(outputs: Sequence[torch.Tensor], layers: Sequence[YoloLayerSpec]) -> torch.Tensor:
    """Decode raw ``[yolo]`` maps as Darknet does.

    ``outputs[i]`` has shape ``(B, A * (5 + C), H, W)`` and pairs with ``layers[i]``. Returns a
    float32 tensor ``(B, N, 5 + C)``: x1, y1, x2, y2 in network-input pixels, objectness, then the
    class probabilities (sigmoids, not yet multiplied by objectness).
    """
    if len(outputs) != len(layers):
        raise ValueError(f"got {len(outputs)} output maps for {len(layers)} [yolo] layers")
    decoded = []
    for out, spec in zip(outputs, layers, strict=True):
        batch, channels, grid_h, grid_w = out.shape
        num_anchors = len(spec.anchors)
        if channels % num_anchors or channels // num_anchors < 6:
            raise ValueError(f"a map with {channels} channels does not fit {num_anchors} anchors x (5 + classes)")
        attrs = channels // num_anchors
        # (B, A, attrs, H, W) -> (B, A, H, W, attrs): Darknet's channel order is anchor-major.
        pred = out.float().reshape(batch, num_anchors, attrs, grid_h, grid_w).permute(0, 1, 3, 4, 2)
        grid_y, grid_x = torch.meshgrid(
            torch.arange(grid_h, device=out.device, dtype=torch.float32),
            torch.arange(grid_w, device=out.device, dtype=torch.float32),
            indexing="ij",
        )
        # scale_x_y > 1 lets a centre reach its cell's borders (YOLOv4's grid-sensitivity fix).
        s = spec.scale_x_y
        xy = torch.sigmoid(pred[..., 0:2]) * s - 0.5 * (s - 1.0)
        cx = (grid_x + xy[..., 0]) * spec.stride
        cy = (grid_y + xy[..., 1]) * spec.stride
        anchors = torch.tensor(spec.anchors, dtype=torch.float32, device=out.device)
        wh = torch.exp(pred[..., 2:4]) * anchors.view(1, num_anchors, 1, 1, 2)
        boxes = torch.stack(
            (cx - wh[..., 0] / 2, cy - wh[..., 1] / 2, cx + wh[..., 0] / 2, cy + wh[..., 1] / 2),
            dim=-1,
        )
        probs = torch.sigmoid(pred[..., 4:])
        decoded.append(torch.cat((boxes, probs), dim=-1).reshape(batch, -1, attrs))
    return torch.cat(decoded, dim=1)


def clip_boxes(boxes: torch.Tensor, width: float, height: float) -> torch.Tensor:
    """``(N, 4)`` xyxy boxes clipped to an image of ``width`` x ``height`` pixels."""
    x = boxes[:, 0::2].clamp(0, width)
    y = boxes[:, 1::2].clamp(0, height)
    return torch.stack((x[:, 0], y[:, 0], x[:, 1], y[:, 1]), dim=1)


def unletterbox_boxes(boxes: torch.Tensor, params: LetterboxParams) -> torch.Tensor:
    """Map xyxy boxes from network-input pixels to original-image pixels, clipped to the image."""
    x = (boxes[:, 0::2] - params.pad_x) / params.scale
    y = (boxes[:, 1::2] - params.pad_y) / params.scale
    unpadded = torch.stack((x[:, 0], y[:, 0], x[:, 1], y[:, 1]), dim=1)
    return clip_boxes(unpadded, params.original_width, params.original_height)


def detection_records(
    boxes: torch.Tensor, scores: torch.Tensor, class_ids: torch.Tensor, class_names: Sequence[str]
) -> list[dict]:
    """What every detector's ``decode_output`` returns for one image, in the given order:
    ``{"box": [x1, y1, x2, y2], "score", "class_id", "class_name"}``."""
    return [
        {
            "box": [float(v) for v in box],
            "score": float(score),
            "class_id": int(cid),
            "class_name": class_names[int(cid)],
        }
        for box, score, cid in zip(boxes.tolist(), scores.tolist(), class_ids.tolist(), strict=True)
    ]


def postprocess_detections(
    outputs: Sequence[torch.Tensor],
    layers: Sequence[YoloLayerSpec],
    *,
    letterbox_params: LetterboxParams | Sequence[LetterboxParams | None] | None = None,
    conf_threshold: float = DEFAULT_CONF_THRESHOLD,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    max_detections: int = DEFAULT_MAX_DETECTIONS,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    class_names: Sequence[str] = COCO_CLASSES,
) -> list[list[dict]]:
    """Decode, threshold, run class-aware NMS and map boxes back through the letterbox.

    A (box, class) pair is a candidate when objectness x class probability exceeds
    ``conf_threshold`` (Darknet's rule, so one box may carry several classes). Returns, per image,
    up to ``max_detections`` dicts ``{box: [x1, y1, x2, y2], score, class_id, class_name}``, best
    first. Only the ``max_candidates`` best-scoring candidates of an image enter NMS. Boxes are
    in original-image pixels when ``letterbox_params`` is given (one for the batch, or one per
    image), otherwise in network-input pixels.
    """
    from torchvision.ops import batched_nms

    for name, value in (("max_detections", max_detections), ("max_candidates", max_candidates)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    decoded = decode_yolo_outputs(outputs, layers)
    batch, _, attrs = decoded.shape
    if attrs - 5 != len(class_names):
        raise ValueError(f"the outputs carry {attrs - 5} classes but {len(class_names)} class names were given")
    if letterbox_params is None or isinstance(letterbox_params, LetterboxParams):
        per_image = [letterbox_params] * batch
    else:
        per_image = list(letterbox_params)
        if len(per_image) != batch:
            raise ValueError(f"got {len(per_image)} letterbox params for a batch of {batch}")

    input_w, input_h = network_input_size(outputs, layers)
    for params in per_image:
        if (
            params is not None
            and params.input_width is not None
            and ((params.input_width, params.input_height) != (input_w, input_h))
        ):
            raise ValueError(
                f"the outputs come from a {input_w}x{input_h} input but the letterbox params are "
                f"for a {params.input_width}x{params.input_height} one; pass the params of the "
                "image that was fed"
            )

    results = []
    for det, params in zip(decoded, per_image, strict=True):
        scores = det[:, 4:5] * det[:, 5:]
        box_idx, class_idx = torch.nonzero(scores > conf_threshold, as_tuple=True)
        cand_scores = scores[box_idx, class_idx]
        if cand_scores.numel() > max_candidates:
            best = cand_scores.topk(max_candidates).indices
            box_idx, class_idx, cand_scores = box_idx[best], class_idx[best], cand_scores[best]
        boxes = det[box_idx, :4]
        keep = batched_nms(boxes, cand_scores, class_idx, iou_threshold)[:max_detections]
        boxes, cand_scores, class_idx = boxes[keep], cand_scores[keep], class_idx[keep]
        if params is not None:
            boxes = unletterbox_boxes(boxes, params)
        results.append(detection_records(boxes, cand_scores, class_idx, class_names))
    return results


def letterboxed_sample(image: str, input_size: Sequence[int], batch_size: int) -> tuple[torch.Tensor, LetterboxParams]:
    """A photograph from ``assets/`` letterboxed to ``input_size`` (3, H, W), repeated to a batch.

    Returns the float32 NCHW batch in [0, 1] and the letterbox params of the one image.
    """
    from ..inputs.vision import batch, sample_image

    sizes = tuple(input_size) if isinstance(input_size, Sequence) else ()
    if (
        len(sizes) != 3
        or sizes[0] != 3
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes)
        or sizes[1] % NETWORK_STRIDE
        or sizes[2] % NETWORK_STRIDE
    ):
        raise ValueError(
            f"input_size must be (3, height, width) with height and width positive multiples of "
            f"{NETWORK_STRIDE}, got {input_size!r}"
        )
    from ..inputs import check_input_bytes

    # The letterboxed image and the batch, float32, refused before either is allocated.
    check_input_bytes(4 * 3 * sizes[1] * sizes[2] * (batch_size + 1), f"{batch_size} images of {sizes}")
    pixels, params = letterbox(sample_image(image), (sizes[2], sizes[1]))
    return batch(pixels, batch_size), params


def draw_detections(image: str, detections: Sequence[dict]) -> Any:
    """The sample photograph ``image`` (an asset name) with each detection's box and
    ``class_name score`` drawn on it, as a PIL image."""
    from PIL import ImageDraw

    from ..inputs.vision import sample_image

    picture = sample_image(image).convert("RGB")
    draw = ImageDraw.Draw(picture)
    for detection in detections:
        x1, y1, x2, y2 = (float(v) for v in detection["box"])
        draw.rectangle((x1, y1, x2, y2), outline=(255, 0, 0), width=3)
        draw.text((x1 + 4, y1 + 2), f"{detection['class_name']} {detection['score']:.2f}", fill=(255, 0, 0))
    return picture


def decode_detections(
    outputs: Sequence[torch.Tensor],
    layers: Sequence[YoloLayerSpec],
    *,
    letterbox_params: LetterboxParams | Sequence[LetterboxParams | None] | None = None,
    image: str = SAMPLE_IMAGE,
    conf_threshold: float | None = None,
    iou_threshold: float | None = None,
    max_detections: int | None = None,
) -> list[list[dict]]:
    """``postprocess_detections`` for a loader: ``None`` means Darknet's default threshold, and
    without letterbox params boxes map back to the sample ``image`` at the outputs' input size."""
    if isinstance(outputs, torch.Tensor) or not all(isinstance(o, torch.Tensor) for o in outputs):
        raise TypeError(f"outputs must be the tuple of raw maps the network returns, got {type(outputs).__name__}")
    if letterbox_params is None:
        from ..inputs.vision import sample_image

        size = sample_image(image).size
        letterbox_params = letterbox_params_for(size, network_input_size(outputs, layers))
    return postprocess_detections(
        outputs,
        layers,
        letterbox_params=letterbox_params,
        conf_threshold=DEFAULT_CONF_THRESHOLD if conf_threshold is None else conf_threshold,
        iou_threshold=DEFAULT_IOU_THRESHOLD if iou_threshold is None else iou_threshold,
        max_detections=DEFAULT_MAX_DETECTIONS if max_detections is None else max_detections,
    )
