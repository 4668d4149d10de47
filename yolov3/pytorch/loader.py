"""YOLOv3 and YOLOv3-tiny object detectors (COCO, 80 classes), our own Darknet-exact model code.

Pretrained weights are the original Darknet release files (pjreddie.com), verified by sha256 and
read directly; see ``sources/darknet.py``. Inputs are the astronaut photograph letterboxed to the
variant's size; ``decode_output`` gives boxes in that photograph's pixels.
"""

from __future__ import annotations

from typing import Any

from ...base import ForgeModel
from ...config import ModelConfig, ModelInfo, ModelSource, ModelTask, StrEnum


class ModelVariant(StrEnum):
    YOLOV3_416 = "yolov3_416"
    YOLOV3_608 = "yolov3_608"
    YOLOV3_TINY_320 = "yolov3_tiny_320"
    YOLOV3_TINY_416 = "yolov3_tiny_416"


# cfg name -> (module under src/, class). A row names its network by cfg name; code looks it up
# here and never reads the variant name.
_NETWORKS = {
    "yolov3": ("yolov3", "YoloV3"),
    "yolov3-tiny": ("yolov3_tiny", "YoloV3Tiny"),
}

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
    url, sha256, params = _RELEASES[network]
    return ModelConfig(
        pretrained_model_name=network,
        source=ModelSource.CUSTOM,
        task=ModelTask.CV_OBJECT_DET,
        weights_url=url,
        weights_sha256=sha256,
        num_params=params,
        input_size=(3, size, size),
        test_input_size=None if test_size is None else (3, test_size, test_size),
    )


class ModelLoader(ForgeModel):
    _VARIANTS = {
        ModelVariant.YOLOV3_416: _row("yolov3", 416),
        # The same network at the larger input; tests run it at the family's smallest size.
        ModelVariant.YOLOV3_608: _row("yolov3", 608, test_size=416),
        ModelVariant.YOLOV3_TINY_320: _row("yolov3-tiny", 320),
        ModelVariant.YOLOV3_TINY_416: _row("yolov3-tiny", 416, test_size=320),
    }
    DEFAULT_VARIANT = ModelVariant.YOLOV3_416

    def __init__(self, variant: ModelVariant | str | None = None) -> None:
        super().__init__(variant)
        #: how the last ``load_inputs`` placed the photograph in the input (``detection.LetterboxParams``)
        self.letterbox_params: Any = None

    @classmethod
    def _get_model_info(cls, variant: StrEnum) -> ModelInfo:
        return cls._info(variant, "yolov3")

    def _network(self) -> Any:
        import importlib

        module, name = _NETWORKS[self._variant_config.pretrained_model_name]
        return getattr(importlib.import_module(f".src.{module}", __package__), name)

    def _weights_source(self) -> Any:
        from ...sources.darknet import DarknetSource

        config = self._variant_config
        return DarknetSource(
            self._network(),
            name=config.pretrained_model_name,
            url=config.weights_url,
            sha256=config.weights_sha256,
        )

    def _load_inputs(
        self, *, batch_size: int, image: str | None = None, input_size: tuple[int, int, int] | None = None
    ) -> Any:
        """A photograph from ``assets/`` (the astronaut by default) letterboxed to ``input_size``
        (the variant's by default): RGB in [0, 1], NCHW."""
        from ...detection import SAMPLE_IMAGE, letterboxed_sample

        size = self._variant_config.input_size if input_size is None else input_size
        pixels, self.letterbox_params = letterboxed_sample(image or SAMPLE_IMAGE, size, batch_size)
        return pixels

    def decode_output(
        self,
        outputs: Any,
        *,
        conf_threshold: float | None = None,
        iou_threshold: float | None = None,
        max_detections: int | None = None,
        letterbox_params: Any = None,
    ) -> list[list[dict[str, Any]]]:
        """Per image, detections ``{box, score, class_id, class_name}`` after class-aware NMS.

        Boxes are ``[x1, y1, x2, y2]`` in the original photograph's pixels, through the
        letterbox of the last ``load_inputs`` (or ``letterbox_params`` when given).
        """
        from ...detection import decode_detections

        return decode_detections(
            outputs,
            self._network().yolo_layers,
            letterbox_params=self.letterbox_params if letterbox_params is None else letterbox_params,
            conf_threshold=conf_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
        )

    def unpack_forward_output(self, output: Any) -> Any:
        """The raw maps of every scale, flattened and concatenated: ``(B, N)``."""
        from ...detection import flatten_outputs

        return flatten_outputs(output)
