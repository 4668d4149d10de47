"""Export folders (``tt-forge-models export``): a safetensors file plus a ``config.json`` naming the
model and variant it holds.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CorruptWeightsError
from .files import atomic_write_folder

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn


EXPORT_FORMAT = "tt_forge_models.export"


EXPORT_FORMAT_VERSION = 1


EXPORT_WEIGHTS = "model.safetensors"


EXPORT_CONFIG = "config.json"


# A save_pretrained config.json belongs to transformers; our record rides along under this key.
_EXPORT_KEY = "tt_forge_models"


def export_record(folder: Path) -> dict[str, Any] | None:
    """The record :func:`write_export_folder` left in ``folder``'s config.json, else ``None``."""
    config = Path(folder) / EXPORT_CONFIG
    if not config.is_file():
        return None
    try:
        data = json.loads(config.read_text())
    except (OSError, ValueError) as err:
        raise CorruptWeightsError(f"cannot read {str(config)!r}: {err}") from err
    if not isinstance(data, dict):
        return None
    record = data if data.get("format") == EXPORT_FORMAT else data.get(_EXPORT_KEY)
    return record if isinstance(record, dict) and record.get("format") == EXPORT_FORMAT else None


def check_export_folder(path: Path, *, model: str | None, variant: str) -> dict[str, Any] | None:
    """The export record of ``path`` after checking it holds ``model``/``variant``; ``None`` when
    ``path`` is not an export folder. A mismatch is a :class:`CorruptWeightsError`."""
    if not Path(path).is_dir():
        return None
    record = export_record(path)
    if record is None:
        return None
    held = (record.get("model"), record.get("variant"))
    wanted = (model if model is not None else held[0], variant)
    if held != wanted:
        raise CorruptWeightsError(
            f"{str(path)!r} holds an export of {held[0]} variant {held[1]!r}, not {wanted[0]} variant "
            f"{wanted[1]!r}; load it with variant {held[1]!r} or export {wanted[1]!r}"
        )
    return record


def write_export_folder(model: "nn.Module", out: Path, record: dict[str, Any], *, force: bool = False) -> Path:
    """Write ``model``'s weights (safetensors) and a config.json holding ``record`` into ``out``.

    Hugging Face models go through ``save_pretrained``, so the folder is also a normal
    transformers checkpoint; others get ``model.safetensors`` and a config.json of ``record``
    alone. The folder is written beside ``out`` and renamed into place, so a failure leaves
    nothing half-written. An existing non-empty ``out`` is replaced only with ``force``.
    """
    out = Path(out).expanduser().absolute()
    if out.exists() and not force and not (out.is_dir() and not any(out.iterdir())):
        raise FileExistsError(f"{str(out)!r} already exists; choose another folder or pass force=True (--force)")
    record = {"format": EXPORT_FORMAT, "format_version": EXPORT_FORMAT_VERSION, **record}

    def write(tmp: Path) -> None:
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(str(tmp))
            config = json.loads((tmp / EXPORT_CONFIG).read_text())
            config[_EXPORT_KEY] = record
        else:
            from safetensors.torch import save_model

            save_model(model, str(tmp / EXPORT_WEIGHTS))
            config = record
        (tmp / EXPORT_CONFIG).write_text(json.dumps(config, indent=2) + "\n")

    return atomic_write_folder(out, write)
