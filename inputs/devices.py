"""The device rule shared by ``run`` and the benchmark harness: which devices a command accepts,
moving sample inputs onto one, and waiting for it to finish.

Only the standard library is imported at module level.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import DeviceUnavailableError

DEVICE_TYPES = ("cpu", "cuda")


def resolve_device(name: str) -> Any:
    """A ``torch.device`` for ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` that exists on this machine.

    A device this machine lacks is a :class:`DeviceUnavailableError`, raised before any model is
    built, so a long load never ends in a device error.
    """
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"unknown device {name!r}; accepted: {', '.join(DEVICE_TYPES)} (or cuda:N)") from err
    if device.type not in DEVICE_TYPES:
        raise ValueError(f"unsupported device {name!r}; accepted: {', '.join(DEVICE_TYPES)} (or cuda:N)")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"device {name!r} was asked for but this machine has no usable CUDA GPU "
                f"(torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); use --device cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceUnavailableError(f"device {name!r} does not exist; this machine has {count} CUDA device(s)")
    return device


def move_to(obj: Any, device: Any) -> Any:
    """``obj``'s tensors on ``device`` (a KV cache in it is passed along as it is)."""
    from .tree import map_tensors

    return map_tensors(obj, lambda t: t.to(device))


def synchronizer(device: Any) -> Callable[[], None]:
    """A function that waits for the work queued on ``device``; a no-op on the CPU.

    Returned once so that a timing loop pays no per-call lookup.
    """
    import torch

    if torch.device(device).type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def device_name(device: Any) -> str:
    """The hardware behind ``device``: the GPU model or the CPU model."""
    import platform

    import torch

    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def available_devices() -> list[str]:
    """The devices a model can be built for here: ``cpu``, ``meta`` and each accelerator found."""
    import torch

    names = ["cpu", "meta"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    for kind in ("mps", "xpu"):
        backend = getattr(torch, kind, None) or getattr(torch.backends, kind, None)
        try:
            if backend is not None and backend.is_available():
                names.append(kind)
        except Exception:  # a half-installed backend is not available  # noqa: BLE001
            pass
    return names


def resolve_model_device(device: Any) -> Any:
    """``load_model(device=...)``: ``None`` (the CPU), or a ``torch.device`` that exists here.

    Takes a string (``"cpu"``, ``"meta"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or a ``torch.device``.
    Any other type is a TypeError; an unknown name is a ValueError, and a device this machine lacks
    a :class:`DeviceUnavailableError`, each naming the devices that are available.
    """
    if device is None:
        return None
    import torch

    if isinstance(device, bool) or not isinstance(device, (str, torch.device)):
        raise TypeError(
            f"device must be a str or torch.device, got {type(device).__name__} {device!r}; "
            f"available here: {', '.join(available_devices())}"
        )
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"unknown device {device!r}; available here: {', '.join(available_devices())}") from None
    if parsed.type in ("cpu", "meta"):
        return parsed
    available = available_devices()
    if parsed.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count and (parsed.index is None or parsed.index < count):
            return parsed
    elif parsed.type in available and parsed.index in (None, 0):
        return parsed
    raise DeviceUnavailableError(f"device {str(device)!r} is not available here; available: {', '.join(available)}")
