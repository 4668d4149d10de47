"""DETR in ONNX: every variant of the PyTorch loader, exported from its model (see
:class:`~...frameworks.onnx_loader.OnnxLoader`)."""

from __future__ import annotations

from ...frameworks.onnx_loader import OnnxLoader
from ..pytorch.loader import ModelLoader as TorchModelLoader
from ..pytorch.loader import ModelVariant


class ModelLoader(OnnxLoader):
    TORCH_LOADER = TorchModelLoader


__all__ = ["ModelLoader", "ModelVariant"]
