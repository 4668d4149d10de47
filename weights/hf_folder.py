"""The safetensors weights of a Hugging Face folder (``save_pretrained`` or a hub-cache snapshot),
read without transformers: one ``model.safetensors``, or the shards that
``model.safetensors.index.json`` names.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from ..errors import CorruptWeightsError, one_line

if TYPE_CHECKING:  # pragma: no cover
    import torch

SINGLE_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"


def safetensors_files(folder: Path) -> list[Path] | None:
    """The safetensors files holding ``folder``'s weights, or None when it has none to read
    directly (only ``pytorch_model.bin``, or an index whose shards are not all here, as in a
    hub cache that still has to download some). A bad index is a CorruptWeightsError."""
    folder = Path(folder)
    if (folder / SINGLE_FILE).is_file():
        return [folder / SINGLE_FILE]
    index = folder / INDEX_FILE
    if not index.is_file():
        return None
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        names = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        raise CorruptWeightsError(
            f"cannot read {str(index)!r}: {one_line(err)}; expected a JSON object whose weight_map maps "
            "tensor names to shard files"
        ) from err
    for name in names:
        # A shard is a file beside the index: a name that climbs out of the folder is refused.
        if not isinstance(name, str) or Path(name).name != name or name in ("", ".", ".."):
            raise CorruptWeightsError(f"{str(index)!r} names shard {name!r}; shards must be file names in {folder}")
    shards = [folder / name for name in names]
    return shards if shards and all(shard.is_file() for shard in shards) else None


def read_safetensors(files: Iterable[Path]) -> dict[str, "torch.Tensor"]:
    """Every tensor of ``files`` (memory-mapped: what is never used is never read), in one dict;
    a tensor name in two shards is a CorruptWeightsError."""
    from .files import read_state_dict

    state: dict[str, torch.Tensor] = {}
    for path in files:
        shard = read_state_dict(path)
        twice = sorted(set(shard) & set(state))
        if twice:
            raise CorruptWeightsError(f"{path} repeats tensors of an earlier shard: {', '.join(twice[:3])}")
        state.update(shard)
    return state


_LAYER_INDEX = re.compile(r"\.(\d+)\.")


def beyond_the_cut(unexpected: Iterable[str], expected: set[str], num_layers: int) -> bool:
    """Whether every key in ``unexpected`` is a layer that ``num_layers=`` cut off: a key whose
    layer index is ``num_layers`` or more and that names a tensor of a kept layer once that index
    is replaced (``model.layers.5.mlp.up_proj.weight`` when ``model.layers.0.mlp.up_proj.weight``
    is expected). ``from_pretrained`` ignores those keys too."""
    for key in unexpected:
        if not any(
            int(match.group(1)) >= num_layers and f"{key[: match.start()]}.0.{key[match.end() :]}" in expected
            for match in _LAYER_INDEX.finditer(key)
        ):
            return False
    return True


__all__ = ["INDEX_FILE", "SINGLE_FILE", "beyond_the_cut", "read_safetensors", "safetensors_files"]
