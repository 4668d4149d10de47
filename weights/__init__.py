"""Where weights come from: the one policy every loader follows.

``load_model(weights=...)`` takes ``"pretrained"``, ``"random"``, ``"auto"`` or a local path. When
it is ``None``, ``TT_FORGE_MODELS_WEIGHTS`` sets the default, and failing that ``"auto"``.

- pretrained: the source's own mechanism at the pinned version (a :class:`WeightsSource` does it).
  Offline (``TT_FORGE_MODELS_OFFLINE=1``, ``HF_HUB_OFFLINE=1`` for hub sources, or the host not
  answering within seconds) only the local caches are read, and a miss raises :class:`WeightsUnavailableError`
  naming the variant, the source and the remedy.
- random: the exact architecture from a config shipped here, seeded, no hub.
- auto: pretrained when it can be had, else random with one :class:`WeightsFallbackWarning`.

A local path may be a weights file, a Hugging Face ``save_pretrained`` folder, or a folder written by
:func:`write_export_folder` (``tt-forge-models export``), whose ``config.json`` names the model and
variant it holds.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import stat
import tempfile
import threading
import time
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ..errors import CorruptWeightsError, WeightsFallbackWarning, WeightsPathError, WeightsUnavailableError, one_line

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

WEIGHTS_ENV = "TT_FORGE_MODELS_WEIGHTS"
OFFLINE_ENV = "TT_FORGE_MODELS_OFFLINE"
CHOICES = ("pretrained", "random", "auto")
#: the deadline of the whole probe: name resolution, connection (through the proxy) and an answer
_PROBE_TIMEOUT_S = 2.0
#: how long a probe's answer is reused: a failed one is retried soon, so a network that comes
#: back is noticed, and a good one is re-checked now and then
_PROBE_TTL_S = {True: 300.0, False: 15.0}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_probe_cache: dict[tuple[str, str, int], tuple[bool, float]] = {}
_probe_lock = threading.Lock()


def offline_switch_on() -> bool:
    """Our own switch says: do not touch the network. A value that is not a boolean is a
    ValueError naming the variable, so a typo never silently means "online"."""
    from ..validation import env_flag

    return env_flag(OFFLINE_ENV)


def parse_endpoint(url_or_host: str) -> tuple[str, str, int]:
    """``(scheme, host, port)`` of an endpoint URL or bare host, parsed by ``urllib.parse``: IPv6
    literals (``http://[::1]:9``), credentials (``https://user:pw@host:9``), and the scheme's own
    port when none is given. A bare ``host[:port]`` means https."""
    text = str(url_or_host).strip()
    parts = urlsplit(text if "://" in text else f"https://{text}")
    try:
        port = parts.port
    except ValueError as err:
        raise ValueError(f"endpoint {url_or_host!r} has an invalid port: {err}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"endpoint {url_or_host!r} must be an http(s) URL with a host, e.g. https://huggingface.co")
    return scheme, parts.hostname, port or _DEFAULT_PORTS[scheme]


def _probe_target(scheme: str, host: str, port: int) -> tuple[str, int]:
    """Where a request to ``host`` really goes: the proxy the environment configures for
    ``scheme`` (``HTTPS_PROXY``, honouring ``NO_PROXY``), else the host itself."""
    import urllib.request

    proxy = urllib.request.getproxies().get(scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        _, proxy_host, proxy_port = parse_endpoint(proxy if "://" in proxy else f"http://{proxy}")
        return proxy_host, proxy_port
    return host, port


def _answers(host: str, port: int, deadline: float) -> bool:
    """Whether ``host:port`` accepts a connection and says something within ``deadline`` seconds.

    Resolution, connection and the first bytes all run in a daemon thread joined with the one
    deadline: a hanging resolver or a server that accepts and never answers cannot stall us.
    """
    result: list[bool] = []

    def attempt() -> None:
        try:
            with socket.create_connection((host, port), timeout=deadline) as conn:
                conn.settimeout(deadline)
                # One harmless request line that nothing forwards: an HTTP server or proxy answers
                # it at once (an error will do), a TLS server sends an alert or closes. Silence
                # means requests would hang there too.
                conn.sendall(f"HEAD / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode("ascii"))
                conn.recv(1)
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, name="tt-forge-models-probe", daemon=True)
    thread.start()
    thread.join(deadline)
    return bool(result) and result[0]


def network_available(url_or_host: str) -> bool:
    """True when the host (or the proxy in front of it) answers within ``_PROBE_TIMEOUT_S``, so no
    download can hang on it. Answers are reused for a while (``_PROBE_TTL_S``), never forever."""
    if offline_switch_on():
        return False
    scheme, host, port = parse_endpoint(url_or_host)
    target = _probe_target(scheme, host, port)
    key = (scheme, *target)
    now = time.monotonic()
    with _probe_lock:
        cached = _probe_cache.get(key)
    if cached is not None and now - cached[1] < _PROBE_TTL_S[cached[0]]:
        return cached[0]
    ok = _answers(*target, _PROBE_TIMEOUT_S)
    with _probe_lock:
        _probe_cache[key] = (ok, time.monotonic())
    return ok


def package_folder(spec: str) -> Path | None:
    """The folder ``spec`` (``"<package>/<sub/folder>"``) inside an installed package, or None.

    The package is located with ``importlib.util.find_spec`` and never imported, so naming a large
    package that ships model files costs nothing.
    """
    import importlib.util

    package, _, sub = str(spec).partition("/")
    if not package.isidentifier() or Path(sub).is_absolute() or ".." in Path(sub).parts:
        raise ValueError(
            f"package folder {spec!r} must be '<importable package>/<relative folder>', e.g. 'my_pkg/model'"
        )
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    for root in (found.submodule_search_locations or []) if found is not None else []:
        folder = Path(root) / sub
        if folder.is_dir():
            return folder
    return None


def resolve_choice(weights: str | os.PathLike | None) -> str | Path:
    """Normalise ``weights=`` to one of ``CHOICES`` or an existing local ``Path``.

    ``None`` reads ``TT_FORGE_MODELS_WEIGHTS`` (unset means ``"auto"``); a bad value there is an
    error naming the variable. ``""`` is refused rather than taken as the current folder.
    """
    if weights is None:
        raw = os.environ.get(WEIGHTS_ENV)
        if raw is None:
            return "auto"
        try:
            return resolve_choice(raw.strip() if raw.strip() else raw)
        except (TypeError, ValueError, OSError) as err:
            raise type(err)(f"environment variable {WEIGHTS_ENV}={raw!r}: {err}") from None
    if isinstance(weights, os.PathLike):
        return _existing(Path(weights))
    if not isinstance(weights, str):
        raise TypeError(f"weights must be one of {CHOICES} or a path, got {type(weights).__name__} {weights!r}")
    if not weights.strip():
        raise WeightsPathError(f"weights={weights!r} is empty; accepted: {', '.join(CHOICES)} or a local path")
    if weights in CHOICES:
        return weights
    if os.sep in weights or "." in Path(weights).name or os.path.lexists(weights):
        return _existing(Path(weights))
    raise ValueError(f"unknown weights {weights!r}; accepted: {', '.join(CHOICES)} or a local path")


def _existing(path: Path) -> Path:
    """``path`` when it is a regular file or a folder; otherwise an error that says what it is."""
    path = path.expanduser()
    if not str(path).strip():
        raise WeightsPathError("the weights path is empty")
    try:
        mode = path.stat().st_mode
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise WeightsPathError(f"weights path {str(path)!r} is a symlink loop") from None
        if os.path.lexists(path) and err.errno == errno.ENOENT:
            raise FileNotFoundError(f"weights path {str(path)!r} is a dangling symlink") from None
        if err.errno == errno.ENOENT:
            raise FileNotFoundError(f"weights path {str(path)!r} does not exist") from None
        raise WeightsPathError(f"weights path {str(path)!r} cannot be read: {err.strerror}") from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        kind = {
            stat.S_IFIFO: "a FIFO (named pipe)",
            stat.S_IFCHR: "a character device",
            stat.S_IFBLK: "a block device",
            stat.S_IFSOCK: "a socket",
        }.get(stat.S_IFMT(mode), "not a regular file")
        raise WeightsPathError(
            f"weights path {str(path)!r} is {kind}; expected a weights file or a save_pretrained/export folder"
        )
    return path


class WeightsSource:
    """How one source builds a variant: random, pretrained, or from a local path.

    Subclasses live beside this module (Hugging Face, torchvision, timm, Darknet) and import their
    heavy libraries inside methods.
    """

    #: where the pretrained weights are fetched from, probed before any download
    host: str = ""

    def describe(self) -> str:
        """One line naming the weights (hub id and revision, enum, URL)."""
        raise NotImplementedError

    def remedy(self) -> str:
        """How a user gets the pretrained weights onto this machine."""
        return (
            "run `python -m tt_forge_models prefetch` on a machine with network and copy its "
            "caches here, or pass weights='random' for the exact architecture with random weights"
        )

    def construct(self) -> "nn.Module":
        """The plain framework build (fp32, its own init): the baseline benchmarks compare to."""
        raise NotImplementedError

    def build_meta(self, **kwargs: Any) -> "nn.Module":
        raise NotImplementedError

    def build_random(self, *, dtype: "torch.dtype | None", seed: int, **kwargs: Any) -> "nn.Module":
        raise NotImplementedError

    def load_pretrained(self, *, dtype: "torch.dtype | None", offline: bool, **kwargs: Any) -> "nn.Module":
        """Load the pinned weights; with ``offline`` read only the caches.

        Raise :class:`WeightsUnavailableError` (with no remedy text; the policy adds it) when they
        cannot be had.
        """
        raise NotImplementedError

    def load_path(self, path: Path, *, dtype: "torch.dtype | None", **kwargs: Any) -> "nn.Module":
        raise NotImplementedError

    def offline(self) -> bool:
        """Whether to read only the caches: a switch is on or the host does not answer."""
        return not network_available(self.host) if self.host else offline_switch_on()

    def is_cached(self) -> bool:
        """Whether the pretrained weights are already on this machine."""
        return False

    def estimate_bytes(self, *, dtype: "torch.dtype | None", path: Path | None = None, **kwargs: Any) -> int | None:
        """Bytes the weights will take once allocated (parameters times dtype size), or None.

        :func:`load_with_policy` checks it against available memory before building anything, so
        a model that cannot fit is refused in well under a second instead of swapping. ``path`` is
        set when the weights come from a local folder or file.
        """
        return None

    def prefetch(self) -> None:
        """Download the pretrained weights (and tokenizer or processor) into the usual caches."""
        raise NotImplementedError


@dataclass
class LoadedWeights:
    model: "nn.Module"
    source: str  # "pretrained", "random", "meta" or "local:<path>"


def load_with_policy(
    source: WeightsSource,
    weights: str | os.PathLike | None,
    *,
    variant_name: str,
    dtype: "torch.dtype | None",
    seed: int = 0,
    device: str | None = None,
    model_name: str | None = None,
    **kwargs: Any,
) -> LoadedWeights:
    """Apply the weights policy for one variant and return the model with where it came from."""
    choice = resolve_choice(weights)  # checked even for a shape-only build: a typo is a typo
    if device == "meta":
        return LoadedWeights(source.build_meta(dtype=dtype, **kwargs), "meta")
    # Refuse before any download or allocation: pretrained, random and local all land in memory.
    _check_fits(source, variant_name, dtype=dtype, path=choice if isinstance(choice, Path) else None, **kwargs)
    if isinstance(choice, Path):
        check_export_folder(choice, model=model_name, variant=variant_name)
        return LoadedWeights(source.load_path(choice, dtype=dtype, **kwargs), f"local:{choice}")
    if choice == "random":
        return LoadedWeights(source.build_random(dtype=dtype, seed=seed, **kwargs), "random")
    offline = source.offline()
    try:
        model = source.load_pretrained(dtype=dtype, offline=offline, **kwargs)
        provenance = getattr(source, "provenance", None)  # e.g. the mirror package that held them
        return LoadedWeights(model, f"pretrained (mirror: {provenance})" if provenance else "pretrained")
    except WeightsUnavailableError as err:
        message = (
            f"pretrained weights for variant {variant_name!r} ({source.describe()}) are not "
            f"available{' offline' if offline else ''}: {err}. To fix: {source.remedy()}."
        )
        if choice == "pretrained":
            raise WeightsUnavailableError(message) from err
    warnings.warn(
        f"{message} Using random weights instead (weights='auto').",
        WeightsFallbackWarning,
        stacklevel=3,
    )
    return LoadedWeights(source.build_random(dtype=dtype, seed=seed, **kwargs), "random")


def _check_fits(source: WeightsSource, variant_name: str, *, dtype: Any, path: Path | None, **kwargs: Any) -> None:
    from .memory import check_fits

    nbytes = source.estimate_bytes(dtype=dtype, path=path, **kwargs)
    if nbytes is not None:
        check_fits(nbytes, f"variant {variant_name!r} ({source.describe()}) in {dtype or 'float32'}")


# ---- files -------------------------------------------------------------------------------------


def read_state_dict(path: Path) -> dict[str, "torch.Tensor"]:
    """Tensors from a ``.safetensors`` file or a torch checkpoint read with ``weights_only=True``."""
    import torch

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


def check_state_dict_keys(model: "nn.Module", state: dict[str, "torch.Tensor"], *, origin: str) -> None:
    """``state`` has every key of ``model``'s state dict (a tied tensor under any of its names), no
    other, and each in the model's shape; else a CorruptWeightsError saying what differs."""
    expected = model.state_dict(keep_vars=True)
    # Tied tensors (shared embeddings) are saved once; a key is present if any alias of it is.
    aliases: dict[int, set[str]] = {}
    for key, tensor in expected.items():
        aliases.setdefault(id(tensor), set()).add(key)
    missing = sorted(k for k in set(expected) - set(state) if not aliases[id(expected[k])] & set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise CorruptWeightsError(f"{origin} does not match {type(model).__name__}: {'; '.join(parts)}")


def save_safetensors(model: "nn.Module", path: Path) -> Path:
    """Write ``model``'s state dict atomically: a failure leaves no half-written file.

    The temporary file is made by ``tempfile`` in the target folder (an unpredictable name no other
    thread or process shares) and gets an explicit mode before the rename.
    """
    from safetensors.torch import save_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        save_model(model, str(tmp))
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


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

    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(name)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as f:
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
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


# ---- export folders ----------------------------------------------------------------------------

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
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out)
    # The pid in the name lets a later run tell a dead export's leftovers from a live one's.
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))
    try:
        os.chmod(tmp, _DIR_MODE)
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(str(tmp))
            config = json.loads((tmp / EXPORT_CONFIG).read_text())
            config[_EXPORT_KEY] = record
        else:
            from safetensors.torch import save_model

            save_model(model, str(tmp / EXPORT_WEIGHTS))
            config = record
        (tmp / EXPORT_CONFIG).write_text(json.dumps(config, indent=2) + "\n")
        for file in tmp.iterdir():
            os.chmod(file, _FILE_MODE)
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# Explicit modes for what we publish (temporary files are private until renamed into place),
# instead of reading the umask, which can only be read by setting it, for the whole process.
_FILE_MODE = 0o644
_DIR_MODE = 0o755


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, but another user's
        return True
    return True


def remove_stale_temporaries(out: Path) -> list[Path]:
    """Delete ``.OUT.<pid>.<random>.tmp`` folders beside ``out`` left by an export that was killed
    (SIGTERM, SIGKILL, power loss) and whose process is gone. Returns them. A ``.OUT.<pid>.old``
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
