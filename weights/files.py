"""The one path for weights files: state-dict reading and writing (safetensors preferred), sha256
checks, verified downloads and the one atomic writer.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from ..errors import CorruptWeightsError, WeightsUnavailableError, one_line

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn


def read_state_dict(path: Path) -> dict[str, "torch.Tensor"]:
    """Tensors from a ``.safetensors`` file or a torch checkpoint read with ``weights_only=True``."""
    import torch

    from .export import EXPORT_WEIGHTS

    path = Path(path)
    if path.is_dir():
        # Sources that take a state dict accept an export folder through its one weights file.
        if not (path / EXPORT_WEIGHTS).is_file():
            raise FileNotFoundError(
                f"folder {str(path)!r} has no {EXPORT_WEIGHTS}; expected a weights file or a folder "
                "written by `tt-forge-models export`"
            )
        path = path / EXPORT_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"weights file {str(path)!r} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        # mmap needs the zip format of torch >= 1.6; a legacy checkpoint is read without it.
        state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as err:  # the libraries raise many types for the same problem
        raise CorruptWeightsError(
            f"cannot read weights file {str(path)!r}: {one_line(err)}; it is truncated or not a "
            "checkpoint: delete it and fetch or export it again"
        ) from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CorruptWeightsError(f"weights file {str(path)!r} does not hold a state dict of tensors")
    return state


def state_dict_differences(model: "nn.Module", state: dict[str, "torch.Tensor"]) -> dict[str, list[str]]:
    """The keys of ``model``'s state dict that ``state`` lacks (a tied tensor counts as present
    under any of its names), those it has beyond them, and those in another shape; each sorted."""
    expected = model.state_dict(keep_vars=True)
    # Tied tensors (shared embeddings) are saved once; a key is present if any alias of it is.
    aliases: dict[int, set[str]] = {}
    for key, tensor in expected.items():
        aliases.setdefault(id(tensor), set()).add(key)
    return {
        "missing": sorted(k for k in set(expected) - set(state) if not aliases[id(expected[k])] & set(state)),
        "unexpected": sorted(set(state) - set(expected)),
        "wrong shape": sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape),
    }


def check_state_dict_keys(model: "nn.Module", state: dict[str, "torch.Tensor"], *, origin: str) -> None:
    """``state`` has every key of ``model``'s state dict (a tied tensor under any of its names), no
    other, and each in the model's shape; else a CorruptWeightsError saying what differs."""
    parts = [
        f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})"
        for label, keys in state_dict_differences(model, state).items()
        if keys
    ]
    if parts:
        raise CorruptWeightsError(f"{origin} does not match {type(model).__name__}: {'; '.join(parts)}")


def save_safetensors(model: "nn.Module", path: Path) -> Path:
    """Write ``model``'s state dict as safetensors, atomically (see :func:`atomic_write`)."""
    from safetensors.torch import save_model

    return atomic_write(path, lambda tmp: save_model(model, str(tmp)))


#: socket timeout of every read of a download: a network that goes silent fails within it
DOWNLOAD_TIMEOUT_S = 3.0


_sha_cache: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The sha256 of a whole file, remembered per (path, size, mtime) so a file replaced in place
    is hashed again and repeated loads in one process pay once."""
    import hashlib

    st = Path(path).stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
        _sha_cache[key] = digest.hexdigest()
    return _sha_cache[key]


def _digest_matches(actual: str, expected: str, prefix: bool) -> bool:
    return actual == expected.lower() or (prefix and actual.startswith(expected.lower()))


def check_sha256(path: Path, expected: str, *, what: str, prefix: bool = False) -> None:
    """Refuse ``path`` unless its sha256 is ``expected`` (or starts with it, with ``prefix``); the
    error names the file, both digests and the remedy."""
    actual = file_sha256(path)
    if _digest_matches(actual, expected, prefix):
        return
    raise CorruptWeightsError(
        f"{path} ({Path(path).stat().st_size} bytes) has sha256 {actual}, but {what} has "
        f"{expected.lower()}{'...' if prefix else ''}; the file is truncated or another one. Delete it and "
        "load again to download it afresh"
    )


def download_verified(url: str, dest: Path, *, sha256: str | None, prefix: bool = False) -> Path:
    """Download ``url`` to ``dest`` with a timeout on every read, through the environment's proxy,
    checking the sha256 before the file is moved into place: a bad or partial download never lands.

    Network failures are :class:`WeightsUnavailableError`; a digest mismatch is
    :class:`CorruptWeightsError`.
    """
    import hashlib
    import urllib.request

    def fetch(tmp: Path) -> None:
        digest = hashlib.sha256()
        with open(tmp, "wb") as f:
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        digest.update(chunk)
                        f.write(chunk)
            except (OSError, ValueError) as err:  # URLError, HTTPError, timeouts, resets
                raise WeightsUnavailableError(f"download of {url} failed: {one_line(err)}") from err
        actual = digest.hexdigest()
        if sha256 is not None and not _digest_matches(actual, sha256, prefix):
            raise CorruptWeightsError(
                f"download of {url} failed its sha256 check: got {actual}, expected {sha256.lower()}"
            )

    return atomic_write(dest, fetch)


# Explicit modes for what we publish (temporary files are private until renamed into place),
# instead of reading the umask, which can only be read by setting it, for the whole process.
_FILE_MODE = 0o644


_DIR_MODE = 0o755


def _temporary(path: Path, *, folder: bool = False) -> Path:
    """A new private temporary file (or folder) beside ``path``: ``.NAME.<pid>.<random>.tmp``, made
    by ``tempfile`` (a name no other thread or process shares) in the target folder, so the
    rename into place never crosses file systems. The pid lets a later writer tell a dead
    process's leftovers from a live one's (:func:`remove_stale_temporaries`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    options = {"prefix": f".{path.name}.{os.getpid()}.", "suffix": ".tmp", "dir": path.parent}
    if folder:
        return Path(tempfile.mkdtemp(**options))
    fd, name = tempfile.mkstemp(**options)
    os.close(fd)
    return Path(name)


def atomic_write(path: Path, write: Callable[[Path], Any]) -> Path:
    """Publish the file that ``write(tmp)`` writes at ``tmp`` as ``path``, all or nothing.

    ``tmp`` is a :func:`_temporary` file beside ``path``; after ``write`` returns it is flushed to
    disk, given mode 0644 and renamed over ``path``. If anything fails (``write`` raising, the
    rename, an interrupt), the temporary file is removed and an existing ``path`` is left as it was.
    Every file this package writes goes through here; folders through :func:`atomic_write_folder`.
    """
    path = Path(path)
    tmp = _temporary(path)
    try:
        write(tmp)
        with open(tmp, "rb") as f:  # the data is on disk before the name points at it
            os.fsync(f.fileno())
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_folder(out: Path, write: Callable[[Path], Any]) -> Path:
    """:func:`atomic_write` for a folder: ``write(tmp)`` fills a :func:`_temporary` folder beside
    ``out``, whose files get mode 0644 (the folder 0755) before it replaces ``out``. An old ``out``
    is kept until the new one is in place; a failure removes the temporary folder."""
    out = Path(out)
    tmp = _temporary(out, folder=True)
    try:
        os.chmod(tmp, _DIR_MODE)
        write(tmp)
        for file in tmp.iterdir():
            os.chmod(file, _FILE_MODE)
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete ``.OUT.<pid>.<random>.tmp`` files and folders beside ``out`` left by a writer that was
    killed (SIGTERM, SIGKILL, power loss) and whose process is gone. Returns them. A ``.OUT.<pid>.old``
    is kept: killed mid-swap, it may be the only copy of the previous export."""
    out = Path(out)
    removed = []
    if not out.parent.is_dir():
        return removed
    for entry in out.parent.glob(f".{out.name}.*"):
        parts = entry.name[len(out.name) + 2 :].split(".")
        if not parts or not parts[0].isdigit() or entry.suffix != ".tmp":
            continue
        pid = int(parts[0])
        if pid == os.getpid() or _pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _swap_in(new: Path, out: Path) -> None:
    """Rename ``new`` to ``out``, keeping the old ``out`` until the rename has succeeded."""
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        os.replace(new, out)
        return
    old = out.with_name(f".{out.name}.{os.getpid()}.old")
    os.replace(out, old)
    try:
        os.replace(new, out)
    except OSError:
        os.replace(old, out)
        raise
    if old.is_dir():
        shutil.rmtree(old)
    else:
        old.unlink()
