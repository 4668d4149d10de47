"""One converter between PyTorch state dicts and Flax variable trees, driven by a family's rules.

A rule pairs a PyTorch key template with a Flax path template and a layout::

    Rule("layer{i}.{j}.conv{k}.weight", "params/layer{i}_{j}/conv{k}/kernel", CONV2D)

``{name}`` placeholders match one key component (``[^./]+``) and must appear in both templates,
so the same rules convert both ways and a round trip gives identical tensors. The first path
component of a Flax template is the collection (``params``, ``batch_stats``). Every key must be
claimed by exactly one rule or matched by a ``skip`` glob (``"*.num_batches_tracked"``): an
unconverted weight is an error, never silently dropped. Arrays are numpy here; the JAX loader
turns them into ``jax.Array``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Iterable, Mapping

#: layouts: how a PyTorch tensor becomes a Flax one (and back)
SAME = "same"
LINEAR = "linear"  # torch (out, in) -> flax (in, out)
CONV1D = "conv1d"  # torch (out, in, k) -> flax (k, in, out)
CONV2D = "conv2d"  # torch (out, in, h, w) -> flax (h, w, in, out)
_TO_FLAX = {SAME: None, LINEAR: (1, 0), CONV1D: (2, 1, 0), CONV2D: (2, 3, 1, 0)}
_TO_TORCH = {SAME: None, LINEAR: (1, 0), CONV1D: (2, 1, 0), CONV2D: (3, 2, 0, 1)}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _pattern(template: str) -> re.Pattern:
    out, pos = [], 0
    for m in _PLACEHOLDER.finditer(template):
        out.append(re.escape(template[pos : m.start()]))
        out.append(f"(?P<{m.group(1)}>[^./]+)")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return re.compile("".join(out) + r"\Z")


@dataclass(frozen=True)
class Rule:
    torch: str
    flax: str
    layout: str = SAME

    def __post_init__(self) -> None:
        if self.layout not in _TO_FLAX:
            raise ValueError(f"unknown layout {self.layout!r}; valid: {', '.join(_TO_FLAX)}")
        if set(_PLACEHOLDER.findall(self.torch)) != set(_PLACEHOLDER.findall(self.flax)):
            raise ValueError(f"rule {self.torch!r} -> {self.flax!r}: both sides must name the same placeholders")
        if "/" not in self.flax:
            raise ValueError(f"rule {self.flax!r}: a Flax path starts with its collection, e.g. 'params/...'")

    @cached_property
    def torch_pattern(self) -> re.Pattern:
        return _pattern(self.torch)

    @cached_property
    def flax_pattern(self) -> re.Pattern:
        return _pattern(self.flax)


def _claim(key: str, rules: Iterable[Rule], side: str) -> tuple[Rule, dict[str, str]] | None:
    hits = []
    for rule in rules:
        m = (rule.torch_pattern if side == "torch" else rule.flax_pattern).match(key)
        if m:
            hits.append((rule, m.groupdict()))
    if len(hits) > 1:
        raise ValueError(f"{key!r} matches {len(hits)} rules: {[getattr(r, side) for r, _ in hits]}")
    return hits[0] if hits else None


def _skipped(key: str, skip: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(key, pattern) for pattern in skip)


def _transpose(array: Any, axes: tuple[int, ...] | None, key: str) -> Any:
    if axes is None:
        return array
    if array.ndim != len(axes):
        raise ValueError(f"{key!r}: expected a {len(axes)}-d tensor for this layout, got shape {tuple(array.shape)}")
    return array.transpose(axes)


def _converted(items: Any, rules: Iterable[Rule], skip: Iterable[str], side: str) -> Any:
    """``(target key, array)`` for every ``(key, array)`` of ``side`` ("torch" or "flax") a rule
    claims, in the other side's names and layout; a key neither claimed nor skipped is an error."""
    rules, skip = tuple(rules), tuple(skip)
    axes_of, unclaimed = (_TO_FLAX if side == "torch" else _TO_TORCH), []
    for key, array in items:
        hit = _claim(key, rules, side)
        if hit is None:
            if not _skipped(key, skip):
                unclaimed.append(key)
            continue
        rule, names = hit
        target = (rule.flax if side == "torch" else rule.torch).format(**names)
        yield target, _transpose(array, axes_of[rule.layout], key)
    if unclaimed:
        what = "PyTorch keys" if side == "torch" else "Flax paths"
        raise ValueError(f"no conversion rule for {len(unclaimed)} {what}: {unclaimed[:8]}")


def torch_to_flax(state_dict: Mapping[str, Any], rules: Iterable[Rule], *, skip: Iterable[str] = ()) -> dict:
    """A nested Flax variable dict (``{"params": {...}, "batch_stats": {...}}``) from a PyTorch
    state dict of numpy arrays (see :func:`state_dict_to_numpy`)."""
    tree: dict = {}
    for target, array in _converted(state_dict.items(), rules, skip, "torch"):
        *parents, leaf = target.split("/")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        if leaf in node:
            raise ValueError(f"two PyTorch keys map to Flax path {target!r}")
        node[leaf] = array
    return tree


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"params/dense/kernel": array, ...}`` from a nested Flax variable dict."""
    out = {}
    for name, value in tree.items():
        path = f"{prefix}/{name}" if prefix else str(name)
        if isinstance(value, Mapping):
            out.update(flatten(value, path))
        else:
            out[path] = value
    return out


def flax_to_torch(variables: Mapping[str, Any], rules: Iterable[Rule], *, skip: Iterable[str] = ()) -> dict[str, Any]:
    """The PyTorch state dict (numpy arrays) of a Flax variable dict: the inverse of
    :func:`torch_to_flax` for the same rules. ``skip`` here names Flax paths with no PyTorch
    counterpart."""
    import numpy as np

    arrays = ((path, np.asarray(array)) for path, array in flatten(variables).items())
    return dict(_converted(arrays, rules, skip, "flax"))


def state_dict_to_numpy(model_or_state_dict: Any) -> dict[str, Any]:
    """A PyTorch module's (or state dict's) tensors as numpy arrays, bf16 through fp32 (numpy has
    no bfloat16; the JAX loader casts back). Shared tensors appear once per key, as in
    ``state_dict()``."""
    import torch

    state = model_or_state_dict.state_dict() if hasattr(model_or_state_dict, "state_dict") else model_or_state_dict
    out = {}
    for key, tensor in state.items():
        tensor = tensor.detach().cpu()
        if tensor.dtype == torch.bfloat16:
            tensor = tensor.float()
        out[key] = tensor.numpy()
    return out


# ---- rule builders for the common PyTorch modules (prefixes may hold placeholders) -------------


def dense(torch_prefix: str, flax_path: str, *, bias: bool = True) -> list[Rule]:
    """``nn.Linear`` -> ``nn.Dense``."""
    rules = [Rule(f"{torch_prefix}.weight", f"params/{flax_path}/kernel", LINEAR)]
    return rules + ([Rule(f"{torch_prefix}.bias", f"params/{flax_path}/bias")] if bias else [])


def conv(torch_prefix: str, flax_path: str, *, bias: bool = False, layout: str = CONV2D) -> list[Rule]:
    """``nn.Conv2d`` (or ``Conv1d`` with ``layout=CONV1D``) -> ``nn.Conv``."""
    rules = [Rule(f"{torch_prefix}.weight", f"params/{flax_path}/kernel", layout)]
    return rules + ([Rule(f"{torch_prefix}.bias", f"params/{flax_path}/bias")] if bias else [])


def norm(torch_prefix: str, flax_path: str, *, bias: bool = True) -> list[Rule]:
    """``nn.LayerNorm`` (or an RMSNorm with ``bias=False``) -> ``nn.LayerNorm`` / ``nn.RMSNorm``."""
    rules = [Rule(f"{torch_prefix}.weight", f"params/{flax_path}/scale")]
    return rules + ([Rule(f"{torch_prefix}.bias", f"params/{flax_path}/bias")] if bias else [])


def batch_norm(torch_prefix: str, flax_path: str) -> list[Rule]:
    """``nn.BatchNorm2d`` -> ``nn.BatchNorm``: affine parameters in ``params``, running statistics in
    ``batch_stats`` (``num_batches_tracked`` has no Flax counterpart: skip ``{...}.num_batches_tracked``)."""
    return norm(torch_prefix, flax_path) + [
        Rule(f"{torch_prefix}.running_mean", f"batch_stats/{flax_path}/mean"),
        Rule(f"{torch_prefix}.running_var", f"batch_stats/{flax_path}/var"),
    ]


def embedding(torch_prefix: str, flax_path: str) -> list[Rule]:
    """``nn.Embedding`` -> ``nn.Embed``."""
    return [Rule(f"{torch_prefix}.weight", f"params/{flax_path}/embedding")]
