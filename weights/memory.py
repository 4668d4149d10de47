"""The memory guard: refuse, quickly and clearly, to allocate a model that cannot fit."""

from __future__ import annotations

import os

from ..errors import ModelTooLargeError

# Leave room for activations, the interpreter and everything else on the machine.
_HEADROOM = 0.9


def available_bytes() -> int | None:
    """Memory the kernel says is available now (Linux ``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    raise AssertionError("unreachable")


def check_fits(num_bytes: int, what: str, *, kind: str = "weights") -> None:
    """Raise ``ModelTooLargeError`` before allocating ``num_bytes`` that would not fit.

    ``kind="inputs"`` words the error for sample inputs (batch size, sequence length, image size).
    """
    available = available_bytes()
    if available is None or num_bytes <= available * _HEADROOM:
        return
    if kind == "inputs":
        raise ModelTooLargeError(
            f"{what} need about {format_bytes(num_bytes)} but only {format_bytes(available)} is "
            "available here; ask for a smaller batch_size, seq_len or input_size"
        )
    raise ModelTooLargeError(
        f"{what} needs about {format_bytes(num_bytes)} for its weights but only "
        f"{format_bytes(available)} is available here. Alternatives: pass num_layers= to cut the "
        f"depth, device='meta' for a shape-only model, or dtype_override=torch.bfloat16 to halve it."
    )
