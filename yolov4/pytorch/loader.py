"""YOLOv4 and YOLOv4-tiny object detectors (COCO, 80 classes), our own Darknet-exact model code.

Pretrained weights are the original Darknet release files (AlexeyAB/darknet GitHub releases),
verified by sha256 and read directly; see ``darknet/source.py``. Inputs are the astronaut
photograph letterboxed to the variant's size; ``decode_output`` gives boxes in that photograph's
pixels.
"""

from __future__ import annotations

from ...config import ModelConfig, StrEnum
from ...darknet.yolo import DarknetDetectorLoader, darknet_row


class ModelVariant(StrEnum):
    YOLOV4_416 = "yolov4_416"
    YOLOV4_608 = "yolov4_608"
    YOLOV4_TINY_320 = "yolov4_tiny_320"
    YOLOV4_TINY_416 = "yolov4_tiny_416"


_RELEASES = {
    # name: (release URL, sha256 of that file, parameters)
    "yolov4": (
        "https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v3_optimal/yolov4.weights",
        "e8a4f6c62188738d86dc6898d82724ec0964d0eb9d2ae0f0a9d53d65d108d562",
        64_363_101,
    ),
    "yolov4-tiny": (
        "https://github.com/AlexeyAB/darknet/releases/download/darknet_yolo_v4_pre/yolov4-tiny.weights",
        "cf9fbfd0f6d4869b35762f56100f50ed05268084078805f0e7989efe5bb8ca87",
        6_056_606,
    ),
}


def _row(network: str, size: int, test_size: int | None = None) -> ModelConfig:
    return darknet_row(network, _RELEASES[network], size, test_size)


class ModelLoader(DarknetDetectorLoader):
    _VARIANTS = {
        # The suite runs the full networks at 256: bf16 convolutions are slow on CPUs without native bf16.
        ModelVariant.YOLOV4_416: _row("yolov4", 416, test_size=256),
        ModelVariant.YOLOV4_608: _row("yolov4", 608, test_size=256),
        ModelVariant.YOLOV4_TINY_320: _row("yolov4-tiny", 320),
        ModelVariant.YOLOV4_TINY_416: _row("yolov4-tiny", 416, test_size=320),
    }
    _NETWORKS = {
        "yolov4": ("yolov4", "YoloV4"),
        "yolov4-tiny": ("yolov4_tiny", "YoloV4Tiny"),
    }
    DEFAULT_VARIANT = ModelVariant.YOLOV4_416
