"""YOLO pre- and post-processing shared by the Darknet families.

``letterbox`` prepares an image the way Darknet's ``letterbox_image`` does. ``decode_yolo_outputs``
turns the raw maps a network's ``forward`` returns into boxes exactly as Darknet's ``[yolo]`` layer
does, and ``postprocess_detections`` adds class-aware NMS and maps the boxes back to the original
image. The networks themselves stop at the raw maps, so they stay exportable.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .coco_classes import COCO_CLASSES

# Darknet's `detector test` defaults.
DEFAULT_CONF_THRESHOLD = 0.25
DEFAULT_IOU_THRESHOLD = 0.45
DEFAULT_MAX_DETECTIONS = 100

# Darknet fills the letterbox border with mid gray.
LETTERBOX_FILL = 0.5


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


def letterbox(image, size: int | tuple[int, int]) -> tuple[torch.Tensor, LetterboxParams]:
    """Resize a PIL image keeping its aspect ratio and pad it to ``size``, like Darknet.

    ``size`` is a side length or ``(width, height)``. Returns a float32 RGB tensor of shape
    ``(3, height, width)`` in [0, 1] with the border filled with 0.5 gray, and the params that
    ``postprocess_detections`` needs to map boxes back to the original pixels.
    """
    import numpy as np
    from PIL import Image

    width, height = (size, size) if isinstance(size, int) else size
    if width < 1 or height < 1:
        raise ValueError(f"letterbox size must be positive, got {size!r}")
    image = image.convert("RGB")
    orig_w, orig_h = image.size
    # Darknet's integer arithmetic: fit the side that limits, scale the other one down.
    if width * orig_h < height * orig_w:
        new_w, new_h = width, max(1, orig_h * width // orig_w)
    else:
        new_w, new_h = max(1, orig_w * height // orig_h), height
    resized = image.resize((new_w, new_h), Image.BILINEAR)
    pad_x, pad_y = (width - new_w) // 2, (height - new_h) // 2

    pixels = torch.from_numpy(np.asarray(resized, dtype=np.uint8).copy())
    canvas = torch.full((3, height, width), LETTERBOX_FILL, dtype=torch.float32)
    canvas[:, pad_y : pad_y + new_h, pad_x : pad_x + new_w] = pixels.permute(2, 0, 1) / 255.0
    params = LetterboxParams(
        scale=min(width / orig_w, height / orig_h),
        pad_x=float(pad_x),
        pad_y=float(pad_y),
        original_width=orig_w,
        original_height=orig_h,
    )
    return canvas, params


def decode_yolo_outputs(
    outputs: Sequence[torch.Tensor], layers: Sequence[YoloLayerSpec]
) -> torch.Tensor:
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
            raise ValueError(
                f"a map with {channels} channels does not fit {num_anchors} anchors x (5 + classes)"
            )
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


def unletterbox_boxes(boxes: torch.Tensor, params: LetterboxParams) -> torch.Tensor:
    """Map xyxy boxes from network-input pixels to original-image pixels, clipped to the image."""
    x = ((boxes[:, 0::2] - params.pad_x) / params.scale).clamp(0, params.original_width)
    y = ((boxes[:, 1::2] - params.pad_y) / params.scale).clamp(0, params.original_height)
    return torch.stack((x[:, 0], y[:, 0], x[:, 1], y[:, 1]), dim=1)


def postprocess_detections(
    outputs: Sequence[torch.Tensor],
    layers: Sequence[YoloLayerSpec],
    *,
    letterbox_params: LetterboxParams | Sequence[LetterboxParams | None] | None = None,
    conf_threshold: float = DEFAULT_CONF_THRESHOLD,
    iou_threshold: float = DEFAULT_IOU_THRESHOLD,
    max_detections: int = DEFAULT_MAX_DETECTIONS,
    class_names: Sequence[str] = COCO_CLASSES,
) -> list[list[dict]]:
    """Decode, threshold, run class-aware NMS and map boxes back through the letterbox.

    A (box, class) pair is a candidate when objectness x class probability exceeds
    ``conf_threshold`` (Darknet's rule, so one box may carry several classes). Returns, per image,
    up to ``max_detections`` dicts ``{box: [x1, y1, x2, y2], score, class_id, class_name}``, best
    first. Boxes are in original-image pixels when ``letterbox_params`` is given (one for the
    batch, or one per image), otherwise in network-input pixels.
    """
    from torchvision.ops import batched_nms

    if max_detections < 1:
        raise ValueError(f"max_detections must be at least 1, got {max_detections}")
    decoded = decode_yolo_outputs(outputs, layers)
    batch, _, attrs = decoded.shape
    if attrs - 5 != len(class_names):
        raise ValueError(
            f"the outputs carry {attrs - 5} classes but {len(class_names)} class names were given"
        )
    if letterbox_params is None or isinstance(letterbox_params, LetterboxParams):
        per_image = [letterbox_params] * batch
    else:
        per_image = list(letterbox_params)
        if len(per_image) != batch:
            raise ValueError(f"got {len(per_image)} letterbox params for a batch of {batch}")

    results = []
    for det, params in zip(decoded, per_image, strict=True):
        scores = det[:, 4:5] * det[:, 5:]
        box_idx, class_idx = torch.nonzero(scores > conf_threshold, as_tuple=True)
        boxes = det[box_idx, :4]
        cand_scores = scores[box_idx, class_idx]
        keep = batched_nms(boxes, cand_scores, class_idx, iou_threshold)[:max_detections]
        boxes, cand_scores, class_idx = boxes[keep], cand_scores[keep], class_idx[keep]
        if params is not None:
            boxes = unletterbox_boxes(boxes, params)
        results.append(
            [
                {
                    "box": [float(v) for v in box],
                    "score": float(score),
                    "class_id": int(cid),
                    "class_name": class_names[int(cid)],
                }
                for box, score, cid in zip(
                    boxes.tolist(), cand_scores.tolist(), class_idx.tolist(), strict=True
                )
            ]
        )
    return results
