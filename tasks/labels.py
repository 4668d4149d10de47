"""Class names for decoded outputs: ImageNet from torchvision (no download); COCO in Darknet's order
(80 classes, YOLO) and by COCO's own 91 category ids (DETR), the second derived from the first."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def imagenet_categories() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class names, from torchvision's weights meta."""
    from torchvision.models import ResNet50_Weights

    return tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


#: The 80 COCO class names in the order Darknet's ``coco.names`` lists them (class id = index).
COCO_CLASSES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorbike", "aeroplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "sofa", "pottedplant",
    "bed", "diningtable", "toilet", "tvmonitor", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


#: Where Darknet's ``coco.names`` renamed a COCO category (every other name is COCO's own).
_DARKNET_RENAMES = {
    "motorbike": "motorcycle",
    "aeroplane": "airplane",
    "sofa": "couch",
    "pottedplant": "potted plant",
    "diningtable": "dining table",
    "tvmonitor": "tv",
}

#: The 10 of COCO's 91 category ids that the paper lists but no released annotation uses, with the
#: paper's names (as DETR's Hugging Face config names them).
COCO_UNANNOTATED: dict[int, str] = {
    12: "street sign",
    26: "hat",
    29: "shoe",
    30: "eye glasses",
    45: "plate",
    66: "mirror",
    68: "window",
    69: "desk",
    71: "door",
    83: "blender",
}


def _coco_91() -> tuple[str, ...]:
    annotated = iter(_DARKNET_RENAMES.get(name, name) for name in COCO_CLASSES)
    return ("N/A",) + tuple(COCO_UNANNOTATED.get(i) or next(annotated) for i in range(1, 91))


#: COCO's category names indexed by its 91 category ids (0 is no category, ``"N/A"``), the class
#: ids of models trained on COCO's own annotation ids (DETR): the 80 classes of ``COCO_CLASSES``
#: under COCO's names, in id order, and the 10 unannotated ids of ``COCO_UNANNOTATED``.
COCO_91_CATEGORIES: tuple[str, ...] = _coco_91()
