"""``num_layers=`` on a Hugging Face config: the depth fields a row names, and the cut.

A row's ``HubWeights.layers_key`` names the field that ``num_layers=`` cuts: a top-level one
(``num_hidden_layers``, GPT-2's ``n_layer``), a dotted path into a sub-config
(``vision_config.num_hidden_layers``), or a tuple of paths cut together to the same depth (CLIP's
text and vision towers). Its ``layer_index_keys`` name fields that list indices of the layers
being cut (SAM's ``vision_config.global_attn_indexes``); a cut keeps the indices below it, so the
config still describes the layers the model has, and the layers kept are exactly the
checkpoint's first ones. Only the standard library is imported here.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from ..rows import config_paths
from ..validation import check_int


def lookup(data: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    """``(True, value)`` of the dotted ``path`` in the config dict ``data``; ``(False, None)``
    where a step of it is missing or is not a sub-config."""
    node: Any = data
    for name in path.split("."):
        if not isinstance(node, Mapping) or name not in node:
            return False, None
        node = node[name]
    return True, node


def depth(data: Mapping[str, Any], layers_key: str | tuple[str, ...], *, where: str) -> int:
    """The deepest ``num_layers=`` may ask for: the smallest of the depths ``layers_key`` names.

    A path the config lacks is a TypeError (the variant has no such depth to cut, as a keyword it
    does not take); a value that is no positive integer a ValueError."""
    depths = []
    for path in config_paths(layers_key):
        found, value = lookup(data, path)
        if not found:
            raise TypeError(
                f"num_layers= cuts the config field {path!r}, which {where} does not have: this variant "
                "has no such depth to cut"
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{path!r} in {where} must be a depth (an integer >= 1), got {value!r}")
        depths.append(value)
    return min(depths)


def cut(
    data: Mapping[str, Any],
    num_layers: Any,
    *,
    layers_key: str | tuple[str, ...],
    layer_index_keys: tuple[str, ...] = (),
    where: str,
) -> dict[str, Any]:
    """A copy of the config dict ``data`` cut to ``num_layers`` (an integer in ``1..depth``:
    TypeError or ValueError otherwise): every ``layers_key`` path set to it, every list of layer
    indices in ``layer_index_keys`` reduced to the indices below it. ``data`` is left as it was."""
    full = depth(data, layers_key, where=where)
    num_layers = check_int(f"num_layers (of {where})", num_layers, minimum=1, maximum=full)
    out = copy.deepcopy(dict(data))
    for path in config_paths(layers_key):
        _assign(out, path, num_layers)
    for path in layer_index_keys:
        found, indices = lookup(out, path)
        if not found:
            continue  # the model class's default applies, as it would without the cut
        if not isinstance(indices, (list, tuple)) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in indices
        ):
            raise ValueError(f"{path!r} in {where} must list layer indices (integers), got {indices!r}")
        _assign(out, path, [i for i in indices if i < num_layers])
    return out


def cut_fields(layers_key: str | tuple[str, ...], layer_index_keys: tuple[str, ...] = ()) -> set[str]:
    """The dotted fields a cut changes: compared with nothing when a folder is checked."""
    return set(config_paths(layers_key)) | set(layer_index_keys)


def _assign(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, name = path.split(".")
    for parent in parents:
        data = data[parent]
    data[name] = value


__all__ = ["cut", "cut_fields", "depth", "lookup"]
