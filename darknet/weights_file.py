"""Darknet ``.weights`` files: read, write and count. Converted weights are ordinary state dicts,
written and read by :mod:`..weights.files` like every other family's.

A ``.weights`` file is a small header followed by the float32 values of every
``[convolutional]`` layer in cfg order, and nothing else: it carries no names and no shapes.
The model therefore decides the layout. Every network here exposes ``darknet_convs()``, its
conv layers in cfg order, each with a ``.conv`` (``nn.Conv2d``) and a ``.bn``
(``nn.BatchNorm2d`` or ``None``).

Header (Darknet's ``load_weights``): major, minor and revision as int32, then ``seen`` (images
trained on) as int64 when ``major * 10 + minor >= 2 and major < 1000 and minor < 1000``, otherwise
as int32.

Per conv layer with batch norm: BN bias, BN weight, running mean, running variance, conv weights.
Without batch norm: conv bias, conv weights. Conv weights are (out, in, kh, kw), as in PyTorch.
"""

import errno
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import CorruptWeightsError
from ..weights.files import atomic_write

_INT32_MAX = 2**31 - 1


# A CorruptWeightsError (a ValueError), so one ``except`` catches a bad weights file whatever its format.
class DarknetWeightsError(CorruptWeightsError):
    """A ``.weights`` file that cannot be read into the given model (bad header, wrong size)."""


@dataclass(frozen=True)
class DarknetHeader:
    major: int
    minor: int
    revision: int
    seen: int


def _seen_is_int64(major: int, minor: int) -> bool:
    # Darknet's own rule; files written before version 0.2 stored `seen` as a 32-bit int.
    return (major * 10 + minor) >= 2 and major < 1000 and minor < 1000


def darknet_header_size(major: int, minor: int) -> int:
    """Header bytes for a given version: 12 for the three version ints, plus 8 or 4 for ``seen``."""
    return 12 + (8 if _seen_is_int64(major, minor) else 4)


def darknet_layers(model: nn.Module) -> list[tuple[nn.Conv2d, nn.BatchNorm2d | None]]:
    """The model's ``(conv, bn_or_None)`` pairs in cfg order, the order of its ``.weights`` file."""
    convs = getattr(model, "darknet_convs", None)
    if not callable(convs):
        raise TypeError(f"{type(model).__name__} has no darknet_convs() method, so its Darknet layer order is unknown")
    layers = []
    seen_ids = set()
    for index, layer in enumerate(convs()):
        conv, bn = (layer.conv, layer.bn) if hasattr(layer, "conv") else layer
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"darknet layer {index}: expected nn.Conv2d, got {type(conv).__name__}")
        if id(conv) in seen_ids:
            raise ValueError(f"darknet layer {index}: the same conv is listed twice")
        seen_ids.add(id(conv))
        if bn is None:
            if conv.bias is None:
                raise ValueError(f"darknet layer {index}: a conv without batch norm needs a bias")
        else:
            if not isinstance(bn, nn.BatchNorm2d) or not bn.affine or not bn.track_running_stats:
                raise ValueError(
                    f"darknet layer {index}: batch norm must be an affine nn.BatchNorm2d with running statistics"
                )
            if conv.bias is not None:
                raise ValueError(f"darknet layer {index}: a conv followed by batch norm has no bias in Darknet")
        layers.append((conv, bn))
    return layers


def _slots(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """(module, attribute) of every tensor the file holds, in file order."""
    slots = []
    for conv, bn in darknet_layers(model):
        if bn is not None:
            slots += [(bn, "bias"), (bn, "weight"), (bn, "running_mean"), (bn, "running_var")]
        else:
            slots.append((conv, "bias"))
        slots.append((conv, "weight"))
    return slots


def count_darknet_values(model: nn.Module) -> int:
    """Float values the model's ``.weights`` file holds after its header (works on meta tensors)."""
    return sum(getattr(module, name).numel() for module, name in _slots(model))


def _set_tensor(module: nn.Module, name: str, value: torch.Tensor) -> None:
    """Put ``value`` into ``module.<name>``, cast to the existing dtype; never changes its dtype.

    A real tensor is overwritten in place. A meta tensor (a model built without storage) is
    replaced by a new CPU tensor of its dtype, so loading does not need a materialised model.
    """
    target = getattr(module, name)
    if not target.is_meta:
        target.copy_(value)
        return
    new = value.to(device="cpu", dtype=target.dtype, copy=True)
    if isinstance(target, nn.Parameter):
        module._parameters[name] = nn.Parameter(new, requires_grad=target.requires_grad)
    else:
        module._buffers[name] = new


def _reset_bn_counters(slots: list[tuple[nn.Module, str]]) -> None:
    # Darknet does not store num_batches_tracked; zero it so a loaded model is fully determined
    # by the file (to_empty() leaves it as garbage, meta leaves it without storage).
    for module in {id(m): m for m, _ in slots if isinstance(m, nn.BatchNorm2d)}.values():
        if module.num_batches_tracked is not None:
            _set_tensor(module, "num_batches_tracked", torch.zeros((), dtype=torch.long))


def _file_not_found(kind: str, path: str) -> FileNotFoundError:
    return FileNotFoundError(errno.ENOENT, f"{kind} file not found: {path}", path)


def read_darknet_weights(model: nn.Module, path: str | os.PathLike) -> DarknetHeader:
    """Load a Darknet ``.weights`` file into ``model`` and return its header.

    All or nothing: the header and the exact size are checked, and the whole body is read, before
    any tensor of the model is touched. Values are cast into each tensor's existing dtype and
    device; meta tensors are replaced by CPU tensors of their dtype.
    """
    path = os.fspath(path)
    slots = _slots(model)
    expected = sum(getattr(module, name).numel() for module, name in slots)
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise _file_not_found("Darknet weights", path) from None
    with f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12:
            raise DarknetWeightsError(f"{path}: {size} bytes is too short for a Darknet header (at least 16 bytes)")
        major, minor, revision = (int(v) for v in np.frombuffer(head, dtype="<i4"))
        seen_size = 8 if _seen_is_int64(major, minor) else 4
        seen_bytes = f.read(seen_size)
        if len(seen_bytes) < seen_size:
            raise DarknetWeightsError(
                f"{path}: {size} bytes is too short for a version {major}.{minor} Darknet header "
                f"({12 + seen_size} bytes)"
            )
        seen = int.from_bytes(seen_bytes, "little", signed=seen_size == 4)
        body = size - 12 - seen_size
        actual = body // 4
        if body % 4 or actual != expected:
            problem = "too short" if body < expected * 4 else "too long"
            partial = f" and {body % 4} stray bytes" if body % 4 else ""
            raise DarknetWeightsError(
                f"{path} is {problem} for {type(model).__name__}: it holds {actual} float values"
                f"{partial} after its {12 + seen_size}-byte header, the model needs {expected} "
                f"({12 + seen_size + 4 * expected} bytes in all). It is truncated or belongs to "
                "another network."
            )
        values = np.fromfile(f, dtype="<f4", count=expected)
    if values.size != expected:
        raise DarknetWeightsError(
            f"{path}: read {values.size} of {expected} float values; the file changed while it was being read"
        )
    flat = torch.from_numpy(values.astype("=f4", copy=False))

    offset = 0
    with torch.no_grad():
        for module, name in slots:
            shape = getattr(module, name).shape
            count = shape.numel()
            _set_tensor(module, name, flat[offset : offset + count].view(shape))
            offset += count
        _reset_bn_counters(slots)
    return DarknetHeader(major, minor, revision, seen)


def _check_materialised(model: nn.Module, what: str) -> None:
    for name, tensor in model.state_dict().items():
        if tensor.is_meta:
            raise ValueError(f"cannot {what}: {name} is on the meta device and holds no values")


def write_darknet_weights(
    model: nn.Module,
    path: str | os.PathLike,
    *,
    major: int = 0,
    minor: int = 2,
    revision: int = 0,
    seen: int = 0,
) -> int:
    """Write ``model`` as a Darknet ``.weights`` file (atomically); return the bytes written.

    The defaults (version 0.2, ``seen`` as int64) are what the official YOLO files carry.
    """
    path = os.fspath(path)
    for label, value in (("major", major), ("minor", minor), ("revision", revision)):
        if not 0 <= value <= _INT32_MAX:
            raise ValueError(f"{label} must be in [0, {_INT32_MAX}], got {value}")
    seen_size = 8 if _seen_is_int64(major, minor) else 4
    seen_max = 2**64 - 1 if seen_size == 8 else _INT32_MAX
    if not 0 <= seen <= seen_max:
        raise ValueError(f"seen must be in [0, {seen_max}] for a version {major}.{minor} header, got {seen}")
    slots = _slots(model)
    _check_materialised(model, "write Darknet weights")
    header = np.array([major, minor, revision], dtype="<i4").tobytes()
    header += seen.to_bytes(seen_size, "little")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            f.write(header)
            for module, name in slots:
                tensor = getattr(module, name).detach().to(device="cpu", dtype=torch.float32)
                f.write(tensor.contiguous().numpy().astype("<f4", copy=False).data)

    atomic_write(Path(path), write)
    return len(header) + 4 * sum(getattr(module, name).numel() for module, name in slots)
