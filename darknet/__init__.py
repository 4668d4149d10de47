"""Darknet: the network blocks, the ``.weights`` file reader and writer, and the YOLO loader base.

A library subpackage, not a model folder: discovery finds only ``<model>/<framework>/loader.py``.
The YOLO loaders import :mod:`.yolo` at their module level, so this file imports no torch; the
file-format names below load :mod:`.weights_file` (which needs torch) on first use.
"""

from __future__ import annotations

from typing import Any

_WEIGHTS_FILE_NAMES = (
    "DarknetHeader",
    "DarknetWeightsError",
    "count_darknet_values",
    "darknet_header_size",
    "darknet_layers",
    "read_darknet_weights",
    "write_darknet_weights",
)

__all__ = list(_WEIGHTS_FILE_NAMES)


def __getattr__(name: str) -> Any:
    if name in _WEIGHTS_FILE_NAMES:
        from . import weights_file

        return getattr(weights_file, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
