"""The one walk over nested inputs and outputs: which objects are containers, in what order their
entries come, what each entry's path is called, and how a container is rebuilt.

Containers are what ``torch.utils._pytree`` knows (dicts, lists, tuples, namedtuples, transformers'
``ModelOutput`` and diffusers' ``BaseOutput``, which register themselves; a mapping registered
without key paths is named by its keys) plus any other mapping (a ``BatchEncoding``, rebuilt as a
plain dict) and list or tuple subclass. A transformers cache is a leaf of the structure (it is
state a forward mutates, so it is passed along as it is, never copied) whose key and value
tensors (or a state-space model's convolution and recurrent states) :func:`flatten` still
reports, under ``.cache[i]``. ``None`` entries are skipped.

Paths are those the goldens store: mapping keys joined by dots (``start_logits``, ``b.c``),
positions in brackets (``[0]``, ``a[1][0]``); a tuple is positional whatever its field names, as
a compiled model returns it. ``torch`` is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable, Iterator

#: one step of a path: ``torch.utils._pytree``'s MappingKey, SequenceKey or GetAttrKey
Key = Any
Path = tuple[Key, ...]


def _is_layered_cache(obj: Any) -> bool:
    return hasattr(obj, "get_seq_length") and (
        isinstance(getattr(obj, "layers", None), list)
        or hasattr(obj, "key_cache")
        or is_cache(getattr(obj, "self_attention_cache", None))
    )


def sub_caches(cache: Any) -> list[Any]:
    """The caches that hold ``cache``'s tensors: an encoder-decoder cache's self-attention and
    cross-attention caches, in that order; ``[cache]`` for any other."""
    parts = [getattr(cache, name, None) for name in ("self_attention_cache", "cross_attention_cache")]
    return parts if all(_is_layered_cache(part) for part in parts) else [cache]


def is_cache(obj: Any) -> bool:
    """A transformers cache: layers of keys and values or of states (``DynamicCache``), the
    ``key_cache``/``value_cache`` lists of older releases, or an ``EncoderDecoderCache`` of two
    such caches (self-attention and cross-attention)."""
    return _is_layered_cache(obj) or sub_caches(obj) != [obj]


def cache_tensors(cache: Any) -> list[Any]:
    """The tensors of ``cache``: per layer key then value, or (older releases) all keys then all
    values; a state-space layer's convolution then recurrent states (one per state index) instead;
    an encoder-decoder cache's self-attention ones, then its cross-attention ones. A layer not
    filled yet gives ``None``s."""
    out: list[Any] = []
    for part in sub_caches(cache):
        layers = getattr(part, "layers", None)
        if isinstance(layers, list):
            out += [t for layer in layers for t in _layer_tensors(layer)]
        else:
            out += list(part.key_cache) + list(part.value_cache)
    return out


def _layer_tensors(layer: Any) -> list[Any]:
    states = [s for s in (getattr(layer, name, None) for name in STATE_ATTRS) if isinstance(s, dict)]
    kv = [] if states and not hasattr(layer, "keys") else [getattr(layer, "keys", None), getattr(layer, "values", None)]
    return kv + [by_index[i] for by_index in states for i in sorted(by_index)]


#: a state-space cache layer's tensors (transformers' linear-attention layers): state index to tensor
STATE_ATTRS = ("conv_states", "recurrent_states")


def _open(obj: Any) -> tuple[list[Key], list[Any], Callable[[list[Any]], Any]] | None:
    """``(keys, values, rebuild)`` of a container, or None for a leaf (a tensor, a cache, ``None``,
    a number, a string, any other object)."""
    import torch
    from torch.utils import _pytree as pytree

    if obj is None or isinstance(obj, (torch.Tensor, str, bytes)) or is_cache(obj):
        return None
    if not pytree.tree_is_leaf(obj):
        # One level: everything below the root is a leaf to pytree, so the walk stays ours.
        one_level = lambda x: x is not obj  # noqa: E731
        if isinstance(obj, Mapping) and not _has_key_paths(obj):
            # Registered without key paths (diffusers' BaseOutput flattens as a dict): its keys name them.
            values, spec = pytree.tree_flatten(obj, is_leaf=one_level)
            names = list(obj.keys())
            if len(names) == len(values):
                return [pytree.MappingKey(k) for k in names], values, lambda v: pytree.tree_unflatten(v, spec)
        pairs, spec = pytree.tree_flatten_with_path(obj, is_leaf=one_level)
        keys = [path[0] for path, _ in pairs]
        if isinstance(obj, tuple):  # namedtuples and torch.return_types are positional
            keys = [pytree.SequenceKey(i) for i in range(len(pairs))]
        return keys, [value for _, value in pairs], lambda values: pytree.tree_unflatten(values, spec)
    if isinstance(obj, Mapping):  # a mapping pytree does not know: plain dict out
        names = list(obj.keys())
        return [pytree.MappingKey(k) for k in names], [obj[k] for k in names], lambda v: dict(zip(names, v))
    if isinstance(obj, (list, tuple)):
        return [pytree.SequenceKey(i) for i in range(len(obj))], list(obj), lambda values: type(obj)(values)
    return None


def _has_key_paths(obj: Any) -> bool:
    """Whether ``obj``'s pytree registration can name its entries (``tree_flatten_with_path``)."""
    from torch.utils import _pytree as pytree

    node = pytree.SUPPORTED_NODES.get(type(obj))
    return node is None or node.flatten_with_keys_fn is not None


def children(obj: Any) -> list[tuple[Key, Any]]:
    """The entries of a container in its own order (``None`` ones included); ``[]`` for a leaf."""
    opened = _open(obj)
    return [] if opened is None else list(zip(opened[0], opened[1]))


def flatten(obj: Any) -> list[tuple[Path, Any]]:
    """``(path, tensor)`` for every tensor in ``obj``, depth first in container order, a cache's
    tensors included; ``None`` and non-tensor leaves are skipped."""
    out: list[tuple[Path, Any]] = []
    _collect(obj, (), out)
    return out


def _collect(obj: Any, path: Path, out: list[tuple[Path, Any]]) -> None:
    import torch
    from torch.utils import _pytree as pytree

    if isinstance(obj, torch.Tensor):
        out.append((path, obj))
    elif is_cache(obj):
        for i, tensor in enumerate(cache_tensors(obj)):
            if tensor is not None:
                out.append(((*path, pytree.GetAttrKey("cache"), pytree.SequenceKey(i)), tensor))
    else:
        for key, value in children(obj):
            if value is not None:
                _collect(value, (*path, key), out)


def path_str(path: Path, prefix: str = "") -> str:
    """``path`` written after ``prefix``: ``a[1][0]``, ``b.c``, ``.cache[0]`` (a cache's tensors
    are an attribute of it, so always dotted); ``""`` for the root."""
    from torch.utils import _pytree as pytree

    text = prefix
    for key in path:
        if isinstance(key, pytree.SequenceKey):
            text += f"[{key.idx}]"
        elif isinstance(key, pytree.MappingKey):
            text = f"{text}.{key.key}" if text else str(key.key)
        elif isinstance(key, pytree.GetAttrKey):
            text += f".{key.name}"
        else:  # a key type of a container registered elsewhere: pytree's own spelling
            text += str(key)
    return text


def tensors(obj: Any) -> list[Any]:
    """Every tensor in ``obj``, in :func:`flatten` order."""
    return [tensor for _, tensor in flatten(obj)]


def caches(obj: Any) -> Iterator[Any]:
    """Every transformers cache in ``obj``, in :func:`flatten` order."""
    if is_cache(obj):
        yield obj
        return
    for _, value in children(obj):
        yield from caches(value)


def map_tensors(obj: Any, fn: Callable[[Any], Any]) -> Any:
    """``obj`` rebuilt with ``fn(tensor)`` for every tensor; containers keep their type (an
    unregistered mapping becomes a dict), caches and other leaves are passed along as they are."""
    import torch

    if isinstance(obj, torch.Tensor):
        return fn(obj)
    opened = _open(obj)
    if opened is None:
        return obj
    _, values, rebuild = opened
    return rebuild([map_tensors(value, fn) for value in values])


__all__ = [
    "cache_tensors",
    "sub_caches",
    "caches",
    "children",
    "flatten",
    "is_cache",
    "map_tensors",
    "path_str",
    "sub_caches",
    "tensors",
]
