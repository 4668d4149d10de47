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

import json
import os
import shutil
import socket
import tempfile
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import CorruptWeightsError, WeightsFallbackWarning, WeightsUnavailableError

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

WEIGHTS_ENV = "TT_FORGE_MODELS_WEIGHTS"
OFFLINE_ENV = "TT_FORGE_MODELS_OFFLINE"
CHOICES = ("pretrained", "random", "auto")
_TRUE = {"1", "true", "yes", "on"}
_PROBE_TIMEOUT_S = 2.0


def _env_true(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def offline_switch_on() -> bool:
    """Our own switch says: do not touch the network."""
    return _env_true(OFFLINE_ENV)


@lru_cache(maxsize=None)
def _host_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def network_available(url_or_host: str) -> bool:
    """True when the host answers within a couple of seconds, so no download can hang on it."""
    if offline_switch_on():
        return False
    host = url_or_host.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = host.partition(":")
    return _host_answers(host, int(port or 443))


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
    """Normalise ``weights=`` to one of ``CHOICES`` or an existing local ``Path``."""
    if weights is None:
        weights = os.environ.get(WEIGHTS_ENV, "").strip() or "auto"
    if isinstance(weights, os.PathLike):
        return _existing(Path(weights))
    if not isinstance(weights, str):
        raise TypeError(
            f"weights must be one of {CHOICES} or a path, got {type(weights).__name__} {weights!r}"
        )
    if weights in CHOICES:
        return weights
    if os.sep in weights or "." in Path(weights).name or Path(weights).exists():
        return _existing(Path(weights))
    raise ValueError(f"unknown weights {weights!r}; accepted: {', '.join(CHOICES)} or a local path")


def _existing(path: Path) -> Path:
    path = path.expanduser()
    if not path.exists():
        raise FileNotFoundError(f"weights path {str(path)!r} does not exist")
    return path


class WeightsSource:
    """How one source builds a variant: random, pretrained, or from a local path.

    Subclasses live in ``sources/`` (Hugging Face, torchvision, timm, Darknet) and import their
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
    if device == "meta":
        return LoadedWeights(source.build_meta(dtype=dtype, **kwargs), "meta")
    choice = resolve_choice(weights)
    # Refuse before any download or allocation: pretrained, random and local all land in memory.
    _check_fits(source, variant_name, dtype=dtype, path=choice if isinstance(choice, Path) else None, **kwargs)
    if isinstance(choice, Path):
        check_export_folder(choice, model=model_name, variant=variant_name)
        return LoadedWeights(source.load_path(choice, dtype=dtype, **kwargs), f"local:{choice}")
    if choice == "random":
        return LoadedWeights(source.build_random(dtype=dtype, seed=seed, **kwargs), "random")
    offline = source.offline()
    try:
        return LoadedWeights(source.load_pretrained(dtype=dtype, offline=offline, **kwargs), "pretrained")
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
        state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    except Exception as err:  # the libraries raise many types for the same problem
        raise CorruptWeightsError(f"cannot read weights file {str(path)!r}: {err}") from err
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CorruptWeightsError(f"weights file {str(path)!r} does not hold a state dict of tensors")
    return state


def assign_state_dict(model: "nn.Module", state: dict[str, "torch.Tensor"], *, origin: str) -> None:
    """Copy ``state`` into ``model``'s existing tensors (cast to their dtype); all keys must match."""
    expected = model.state_dict(keep_vars=True)
    # Tied tensors (shared embeddings) are saved once; a key is present if any alias of it is.
    aliases: dict[int, set[str]] = {}
    for key, tensor in expected.items():
        aliases.setdefault(id(tensor), set()).add(key)
    missing = sorted(
        k for k in set(expected) - set(state) if not aliases[id(expected[k])] & set(state)
    )
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise CorruptWeightsError(f"{origin} does not match {type(model).__name__}: {'; '.join(parts)}")
    model.load_state_dict(state, strict=False)


def save_safetensors(model: "nn.Module", path: Path) -> Path:
    """Write ``model``'s state dict atomically: a failure leaves no half-written file."""
    from safetensors.torch import save_model

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        save_model(model, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


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
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        _chmod_default(tmp, 0o777)
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
            _chmod_default(file, 0o666)
        _swap_in(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _chmod_default(path: Path, mode: int) -> None:
    """Give ``path`` the permissions a plain mkdir or open would (temporary files are private)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


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
