"""YOLOv3 and YOLOv3-tiny object detectors (COCO, 80 classes), our own Darknet-exact model code.

Pretrained weights are the original Darknet release files (pjreddie.com), verified by sha256 and
read directly; see ``darknet/source.py``. Inputs are the astronaut photograph letterboxed to the
variant's size; ``decode_output`` gives boxes in that photograph's pixels.
"""

from __future__ import annotations

from ...config import ModelConfig, StrEnum
from ...darknet.yolo import DarknetDetectorLoader, darknet_row


class ModelVariant(StrEnum):
    YOLOV3_416 = "yolov3_416"
    YOLOV3_608 = "yolov3_608"
    YOLOV3_TINY_320 = "yolov3_tiny_320"
    YOLOV3_TINY_416 = "yolov3_tiny_416"


_RELEASES = {
    # name: (release URL, sha256 of that file, parameters)
    "yolov3": (
        "https://pjreddie.com/media/files/yolov3.weights",
        "523e4e69e1d015393a1b0a441cef1d9c7659e3eb2d7e15f793f060a21b32f297",
        61_949_149,
    ),
    "yolov3-tiny": (
        "https://pjreddie.com/media/files/yolov3-tiny.weights",
        "dccea06f59b781ec1234ddf8d1e94b9519a97f4245748a7d4db75d5b7080a42c",
        8_852_366,
    ),
}


def _row(network: str, size: int, test_size: int | None = None) -> ModelConfig:
    return darknet_row(network, _RELEASES[network], size, test_size)


class ModelLoader(DarknetDetectorLoader):
    _VARIANTS = {
        # The suite runs the full networks at 256: bf16 convolutions are slow on CPUs without native bf16.
        ModelVariant.YOLOV3_416: _row("yolov3", 416, test_size=256),
        ModelVariant.YOLOV3_608: _row("yolov3", 608, test_size=256),
        ModelVariant.YOLOV3_TINY_320: _row("yolov3-tiny", 320),
        ModelVariant.YOLOV3_TINY_416: _row("yolov3-tiny", 416, test_size=320),
    }
    _NETWORKS = {
        "yolov3": ("yolov3", "YoloV3"),
        "yolov3-tiny": ("yolov3_tiny", "YoloV3Tiny"),
    }
    DEFAULT_VARIANT = ModelVariant.YOLOV3_416
