"""What the YOLO loaders share: Darknet release rows, the network lookup, the Darknet weights
source, letterboxed inputs and detection decoding.

A family loader (``yolov3/pytorch/loader.py``) keeps only its variant enum, its release table and
which class under its ``src/`` builds each cfg. Like ``base``, this module imports only the
standard library and ``base``/``config`` at module level.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..base import ForgeModel
from ..config import InputSpec, ModelConfig, ModelTask, StrEnum, TestSpec, UrlWeights


def darknet_row(network: str, release: tuple[str, str, int], size: int, test_size: int | None = None) -> ModelConfig:
    """A variant row for ``network`` (its cfg name) at ``size``; ``release`` is (URL, sha256, params)."""
    url, sha256, params = release
    return ModelConfig(
        UrlWeights(network, url, sha256),
        ModelTask.CV_OBJECT_DET,
        params,
        inputs=InputSpec(image_size=(3, size, size)),
        test=TestSpec(input_size=None if test_size is None else (3, test_size, test_size)),
    )


class DarknetDetectorLoader(ForgeModel):
    """Base of the YOLO loaders: raw head maps out of ``forward``, detections out of decode."""

    #: cfg name -> (module under the loader's ``src/``, class). Rows name their network by cfg
    #: name; code looks it up here and never reads variant names.
    _NETWORKS: ClassVar[dict[str, tuple[str, str]]] = {}

    def __init__(self, variant: StrEnum | str | None = None) -> None:
        super().__init__(variant)
        #: how the last ``load_inputs`` placed the photograph in the input (``detection.LetterboxParams``)
        self.letterbox_params: Any = None
        #: the asset name of the photograph the last ``load_inputs`` read
        self.sample_image: str | None = None

    def _network(self) -> Any:
        import importlib

        module, name = self._NETWORKS[self._variant_config.weights.name]
        # src/ sits beside the concrete loader, whatever path the package is vendored at.
        package = type(self).__module__.rsplit(".", 1)[0]
        return getattr(importlib.import_module(f".src.{module}", package), name)

    def _build_source(self) -> Any:
        from .source import DarknetSource

        weights = self._variant_config.weights
        return DarknetSource(self._network(), name=weights.name, url=weights.url, sha256=weights.sha256)

    def _load_inputs(
        self, *, batch_size: int, image: str | None = None, input_size: tuple[int, int, int] | None = None
    ) -> Any:
        """A photograph from ``assets/`` (the astronaut by default) letterboxed to ``input_size``
        (the variant's by default): RGB in [0, 1], NCHW."""
        from ..tasks.detection import SAMPLE_IMAGE, letterboxed_sample

        size = self._variant_config.inputs.image_size if input_size is None else input_size
        self.sample_image = image or SAMPLE_IMAGE
        pixels, self.letterbox_params = letterboxed_sample(self.sample_image, size, batch_size)
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
        from ..tasks.detection import decode_detections
        from ..validation import check_outputs

        return decode_detections(
            check_outputs(outputs),
            self._network().yolo_layers,
            letterbox_params=self.letterbox_params if letterbox_params is None else letterbox_params,
            conf_threshold=conf_threshold,
            iou_threshold=iou_threshold,
            max_detections=max_detections,
        )

    # ---- upstream's per-loader names (tt-forge-fe's YOLO tests call them) -------------------------

    def input_preprocess(self, dtype_override: Any = None, batch_size: int = 1, image: str | None = None) -> Any:
        """Upstream's name for ``load_inputs``."""
        return self.load_inputs(dtype_override=dtype_override, batch_size=batch_size, image=image)

    def post_processing(self, co_out: Any, output_path: str | None = None) -> str:
        """Draw the detections of ``co_out`` (the raw maps, as ``decode_output`` takes them) on the
        photograph of the last ``load_inputs`` and save it as a JPEG; returns its path.

        ``output_path`` defaults to a new file in the system's temporary folder, which the caller
        owns (tt-forge-fe removes it). The detections themselves are ``decode_output``'s.
        """
        import os
        import tempfile

        from ..tasks.detection import SAMPLE_IMAGE, draw_detections

        detections = self.decode_output(co_out)[0]
        if output_path is None:
            fd, output_path = tempfile.mkstemp(prefix=f"{self._variant}_predicted_", suffix=".jpg")
            os.close(fd)
        draw_detections(self.sample_image or SAMPLE_IMAGE, detections).save(output_path, format="JPEG")
        return output_path

    output_postprocess = post_processing

    def unpack_forward_output(self, output: Any) -> Any:
        """The raw maps of every scale, flattened and concatenated: ``(B, N)``."""
        from ..tasks.detection import concat_maps

        return concat_maps(output)
