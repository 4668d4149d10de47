"""Set-prediction object detectors (DETR): the task base of Hugging Face detection families whose
head predicts a fixed set of queries, each a class distribution (with a last "no object" class)
and a box. A family's loader is its variant table.

- Inputs: a photograph shipped in ``assets/`` (``SAMPLE_IMAGE``, a cat, as upstream's COCO cats)
  preprocessed by the model's own image processor when it can be had (the hub cache), else by the
  same processor class built from the documented constants (shortest edge 800, longest 1333,
  ImageNet mean and std) with one :class:`~..errors.PreprocessorFallbackWarning`. The loader
  returns upstream's dict, ``pixel_values`` and ``pixel_mask`` (int64, never cast).
- The row's ``inputs.image_size`` is ``(3, shortest_edge, longest_edge)``: the bounds the image is
  resized into keeping its aspect ratio, as the processor's ``size`` says; ``load_inputs(
  input_size=(3, s, l))`` picks other bounds (the suite's reduced instance).
- ``decode_output`` keeps, per image, the queries whose best class (softmax over the classes,
  without the no-object one) scores above ``threshold``, with the model config's label names and
  boxes in the original photograph's pixels, as ``post_process_object_detection`` does.
- ``unpack_forward_output`` is both heads, ``logits`` and ``pred_boxes`` concatenated on the last
  axis: what a frontend must get right (tt-forge-fe compares the pair), and what a training step
  backpropagates through both.

Only the standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..base import ForgeModel
from ..config import InputSpec, ModelConfig, ModelGroup, ModelTask, StrEnum, TestSpec

#: The photograph detected in by default: a tabby cat (upstream feeds the COCO cats image).
SAMPLE_IMAGE = "chelsea.jpg"
#: The keep rule of the DETR authors' demo notebook (``probas.max(-1).values > 0.7``).
DEFAULT_THRESHOLD = 0.7
#: DETR's documented preprocessing (``preprocessor_config.json`` of facebook/detr-resnet-50:
#: ``size`` 800, ``max_size`` 1333, the ImageNet mean and std; bilinear, rescaled by 1/255).
SHORTEST_EDGE = 800
LONGEST_EDGE = 1333


def detr_row(
    weights: Any,
    params: int,
    *,
    size: tuple[int, int] = (SHORTEST_EDGE, LONGEST_EDGE),
    group: ModelGroup = ModelGroup.GENERALITY,
    **test: Any,
) -> ModelConfig:
    """A set-prediction detector's row: weights record, parameter count, resize bounds
    ``(shortest_edge, longest_edge)`` and test spec."""
    return ModelConfig(
        weights, ModelTask.CV_OBJECT_DET, params, group, InputSpec(image_size=(3, *size)), TestSpec(**test)
    )


class SetPredictionDetectorLoader(ForgeModel):
    """Inputs, preprocessing and decoding shared by DETR-style detection families."""

    #: the transformers image processor class the documented constants are fed to offline
    IMAGE_PROCESSOR: ClassVar[str] = "DetrImageProcessor"

    def __init__(self, variant: StrEnum | str | None = None) -> None:
        super().__init__(variant)
        #: (height, width) of the photograph the last ``load_inputs`` read: where decoded boxes land
        self.target_size: tuple[int, int] | None = None
        self._categories: tuple[str, ...] | None = None

    # ---- inputs --------------------------------------------------------------------------------

    def _load_inputs(
        self, *, batch_size: int, image: Any = SAMPLE_IMAGE, input_size: Sequence[int] | None = None
    ) -> dict[str, Any]:
        """``{"pixel_values": (B, 3, H, W) float32, "pixel_mask": (B, H, W) int64}`` of one
        photograph resized into ``input_size`` (``(3, shortest_edge, longest_edge)``)."""
        from ..inputs.vision import batch, sample_image

        shortest, longest = self._resize_bounds(input_size)
        picture = sample_image(image)
        encoded = self._preprocess(picture, shortest, longest)
        self.target_size = (picture.height, picture.width)
        return {
            "pixel_values": batch(encoded["pixel_values"][0], batch_size),
            "pixel_mask": batch(encoded["pixel_mask"][0], batch_size),
        }

    def _resize_bounds(self, input_size: Sequence[int] | None) -> tuple[int, int]:
        size = self._variant_config.inputs.image_size if input_size is None else input_size
        sides = tuple(size) if isinstance(size, Sequence) and not isinstance(size, str) else ()
        if (
            len(sides) != 3
            or sides[0] != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sides)
            or sides[1] > sides[2]
        ):
            raise ValueError(
                "input_size must be (3, shortest_edge, longest_edge) with positive integer edges and "
                f"shortest_edge <= longest_edge, got {input_size!r}"
            )
        from ..inputs import check_input_bytes

        # The resized image is at most longest x longest: refuse what cannot fit before resizing.
        check_input_bytes(4 * 3 * sides[2] * sides[2], f"one image resized into {sides}")
        return sides[1], sides[2]

    def _preprocess(self, picture: Any, shortest: int, longest: int) -> Any:
        size = {"shortest_edge": shortest, "longest_edge": longest}
        return self.image_processor(images=picture, size=size, return_tensors="pt")

    @functools.cached_property
    def image_processor(self) -> Any:
        """The model's own image processor (the hub cache at the pinned revision), else its class
        built from the documented constants, with one PreprocessorFallbackWarning."""
        from ..inputs.vision import own_image_processor

        stands_in = (
            f"the documented constants (shortest edge {SHORTEST_EDGE}, longest {LONGEST_EDGE}, ImageNet mean and std)"
        )
        processor = own_image_processor(self.source, stands_in, stacklevel=5)
        return documented_processor(self.IMAGE_PROCESSOR) if processor is None else processor

    # ---- outputs -------------------------------------------------------------------------------

    def categories(self) -> tuple[str, ...]:
        """The class names the head's logits index (without the last, no-object class): the
        shipped config's ``id2label`` (for COCO models, COCO's 91 category ids)."""
        if self._categories is None:
            id2label = self.load_config().id2label
            self._categories = tuple(id2label[i] for i in range(len(id2label)))
        return self._categories

    def unpack_forward_output(self, output: Any) -> Any:
        """``logits`` and ``pred_boxes`` concatenated: ``(B, queries, classes + 1 + 4)``."""
        import torch

        logits, boxes = split_outputs(output)
        return torch.cat((logits, boxes.to(logits.dtype)), dim=-1)

    def decode_output(
        self, outputs: Any, *, threshold: float | None = None, target_sizes: Any = None, **kwargs: Any
    ) -> list[list[dict[str, Any]]]:
        """Per image, detections ``{box, score, class_id, class_name}``, best first.

        ``threshold`` (default 0.7) is the score a query's best class must exceed. Boxes are
        ``[x0, y0, x1, y1]`` in pixels of ``target_sizes`` (one ``(height, width)`` per image), by
        default the photograph the last ``load_inputs`` read (the sample photograph before any),
        clipped to it.
        """
        from ..validation import check_outputs

        if kwargs:
            raise TypeError(f"unknown keyword(s) {', '.join(sorted(kwargs))}; accepted: threshold, target_sizes")
        logits, boxes = split_outputs(check_outputs(outputs))
        if target_sizes is None:
            size = self.target_size or _sample_size(SAMPLE_IMAGE)
            target_sizes = [size] * logits.shape[0]
        return decode_set_predictions(
            logits,
            boxes,
            target_sizes,
            threshold=DEFAULT_THRESHOLD if threshold is None else threshold,
            class_names=self.categories(),
        )


def documented_processor(class_name: str = "DetrImageProcessor") -> Any:
    """The image processor ``class_name`` built from DETR's documented constants, without the hub."""
    import transformers

    from ..inputs.vision import IMAGENET_MEAN, IMAGENET_STD

    return getattr(transformers, class_name)(
        size={"shortest_edge": SHORTEST_EDGE, "longest_edge": LONGEST_EDGE},
        image_mean=list(IMAGENET_MEAN),
        image_std=list(IMAGENET_STD),
    )


def _sample_size(image: str) -> tuple[int, int]:
    from ..inputs.vision import sample_image

    picture = sample_image(image)
    return picture.height, picture.width


def split_outputs(outputs: Any) -> tuple[Any, Any]:
    """``(logits, pred_boxes)`` of a detector's outputs: a ``ModelOutput`` or dict with both, or a
    tuple whose first two are them (``return_dict=False``, or a wrapper returning the pair)."""
    import torch

    if isinstance(outputs, Mapping) or hasattr(outputs, "pred_boxes"):
        get = outputs.get if isinstance(outputs, Mapping) else lambda key: getattr(outputs, key, None)
        logits, boxes = get("logits"), get("pred_boxes")
    elif isinstance(outputs, (tuple, list)) and len(outputs) >= 2:
        logits, boxes = outputs[0], outputs[1]
    else:
        logits = boxes = None
    if not (isinstance(logits, torch.Tensor) and isinstance(boxes, torch.Tensor)):
        raise TypeError(
            "a set-prediction detector's outputs are a ModelOutput or dict with logits and pred_boxes, "
            f"or a tuple (logits, pred_boxes, ...), got {type(outputs).__name__}"
        )
    if logits.dim() != 3 or boxes.dim() != 3 or boxes.shape[-1] != 4 or logits.shape[:2] != boxes.shape[:2]:
        raise ValueError(
            "logits must be (batch, queries, classes + 1) and pred_boxes (batch, queries, 4) over the same "
            f"queries, got {tuple(logits.shape)} and {tuple(boxes.shape)}"
        )
    return logits, boxes


def decode_set_predictions(
    logits: Any,
    pred_boxes: Any,
    target_sizes: Sequence[Sequence[int]],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    class_names: Sequence[str],
) -> list[list[dict[str, Any]]]:
    """DETR's post-processing: per image, the queries whose best class scores above ``threshold``.

    ``logits`` is ``(B, Q, C + 1)``, the last class "no object"; ``pred_boxes`` ``(B, Q, 4)`` holds
    ``(cx, cy, w, h)`` relative to the image; ``target_sizes`` one ``(height, width)`` per image.
    A query's score is the largest softmax probability over the ``C`` classes (the no-object one
    left out of the max, not of the softmax). Returns, per image, ``{box: [x0, y0, x1, y1] in
    pixels, clipped to the image, score, class_id, class_name}`` best first.
    """
    import torch

    from .detection import clip_boxes, detection_records

    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold must be a number in [0, 1), got {type(threshold).__name__} {threshold!r}")
    if not 0 <= threshold < 1:
        raise ValueError(f"threshold must be in [0, 1), got {threshold!r}")
    batch, _, classes = logits.shape
    if classes != len(class_names) + 1:
        raise ValueError(f"logits carry {classes} classes but {len(class_names)} class names (+1 no-object) were given")
    sizes = _check_target_sizes(target_sizes, batch)
    probs = torch.softmax(logits.detach().float(), dim=-1)[..., :-1]
    scores, labels = probs.max(dim=-1)
    cx, cy, w, h = pred_boxes.detach().float().unbind(-1)
    corners = torch.stack((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), dim=-1)
    results = []
    for image_scores, image_labels, image_boxes, (height, width) in zip(scores, labels, corners, sizes):
        keep = torch.nonzero(image_scores > threshold).flatten()
        keep = keep[image_scores[keep].argsort(descending=True, stable=True)]
        scale = torch.tensor([width, height, width, height], dtype=torch.float32)
        boxes = clip_boxes(image_boxes[keep] * scale, width, height)
        results.append(detection_records(boxes, image_scores[keep], image_labels[keep], class_names))
    return results


def _check_target_sizes(target_sizes: Any, batch: int) -> list[tuple[int, int]]:
    import torch

    if isinstance(target_sizes, torch.Tensor):
        target_sizes = target_sizes.tolist()
    sizes = list(target_sizes) if isinstance(target_sizes, Sequence) and not isinstance(target_sizes, str) else None
    if sizes is None or not all(
        isinstance(s, Sequence) and len(s) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in s) for s in sizes
    ):
        raise TypeError(f"target_sizes must be one (height, width) per image, got {target_sizes!r}")
    if len(sizes) != batch:
        raise ValueError(f"got {len(sizes)} target sizes for a batch of {batch}")
    return [(s[0], s[1]) for s in sizes]


__all__ = [
    "DEFAULT_THRESHOLD",
    "SAMPLE_IMAGE",
    "SetPredictionDetectorLoader",
    "decode_set_predictions",
    "detr_row",
    "documented_processor",
    "split_outputs",
]
