"""The ONNX export cache: one folder per export, keyed by everything that decides the graph.

An entry lives at ``<root>/onnx/<model>/<variant>/<digest>/`` and holds the graph
(``<model>-<variant>.onnx``, its tensors in ``<model>-<variant>.onnx.data`` beside it when the
graph is too large for one protobuf) and ``record.json``: the key the entry was written for and
the sha256 of every file. ``<root>`` is ``$TT_FORGE_MODELS_CACHE``, else
``$XDG_CACHE_HOME/tt_forge_models``, else ``~/.cache/tt_forge_models``.

The key (:func:`export_key`) names the variant, the weights (``random`` with its seed, the
pinned pretrained weights, or a local file's digest), the dtype, the opset, the build keywords
(``num_layers``, config overrides), the sample inputs' shapes and dtypes, the code version (a
digest of the package files that define the model and the export: :func:`code_version`) and the
versions of the libraries that build and export it. Entries are written with the one atomic
writer (:func:`..weights.files.atomic_write_folder`), so a killed export leaves none. An entry is
trusted only when its record matches the key, every file has its recorded sha256, and the graph
loads and passes ``onnx.checker``; otherwise it is rebuilt, with one
:class:`~..errors.CacheRebuildWarning` saying why.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import CacheRebuildWarning, one_line
from ..weights.files import atomic_write, atomic_write_folder, file_sha256

# The cache root's variable is read where every environment variable is read: weights/policy.py.
from ..weights.policy import CACHE_ENV, cache_root  # noqa: F401 - CACHE_ENV is re-exported

if TYPE_CHECKING:  # pragma: no cover
    import onnx


CACHE_FORMAT = "tt_forge_models.onnx_export"

#: bumped when the layout of an entry or the meaning of its key changes
CACHE_FORMAT_VERSION = 1

RECORD_FILE = "record.json"

#: graphs this large or larger keep their tensors in a ``.data`` file beside them (one protobuf
#: cannot exceed 2 GiB)
EXTERNAL_DATA_BYTES = 1 << 30

#: the most one serialized protobuf may hold
PROTOBUF_LIMIT = (1 << 31) - 1

#: the package root: the code version hashes the files under it
_ROOT = Path(__file__).resolve().parent.parent

#: top-level folders that hold no code a model is built from
_NOT_CODE = frozenset({"tests", "goldens", "docs", "benchmarks", "assets", "cli"})

_CODE_SUFFIXES = frozenset({".py", ".json", ".cfg"})

#: the libraries whose versions decide the graph (the exporter and the model code it traces)
LIBRARIES = ("torch", "onnx", "onnxscript", "transformers", "diffusers", "timm", "torchvision")


def resolve_cache_dir(cache_dir: Any) -> Path:
    """The root a ``cache_dir=`` argument names (``None``: :func:`cache_root`)."""
    return cache_root() if cache_dir is None else folder_argument("cache_dir", cache_dir)


def folder_argument(name: str, value: Any) -> Path:
    """``value`` as a folder path: a TypeError for anything but a non-empty path, a
    NotADirectoryError for an existing file."""
    if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
        raise TypeError(f"{name} must be a folder path, got {type(value).__name__} {value!r}")
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{name} {str(path)!r} exists and is not a folder")
    return path


# ---- the key --------------------------------------------------------------------------------------


def code_version(model: str) -> str:
    """sha256 over the package files that define ``model``'s build and export: its own folder
    (loaders, shipped configs, network code) and every shared module (tasks, weights, inputs,
    frameworks, darknet...), but no other family's folder and no tests, goldens or docs."""
    from ..discovery import loader_paths

    skip = _NOT_CODE | ({path.parent.parent.name for path in loader_paths(_ROOT)} - {model})
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(_ROOT):
        here = Path(folder)
        # pruned before descending: a checkout's .git or .venv is never walked
        dirs[:] = sorted(
            d for d in dirs if not d.startswith((".", "__pycache__")) and not (here == _ROOT and d in skip)
        )
        for name in sorted(files):
            path = here / name
            if path.suffix in _CODE_SUFFIXES and not name.startswith("."):
                digest.update(path.relative_to(_ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def library_versions() -> dict[str, str | None]:
    """The installed version of each of :data:`LIBRARIES` (``None`` where one is not installed)."""
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def export_key(
    *,
    model: str,
    variant: str,
    weights: str,
    seed: int | None,
    dtype: str,
    opset: int,
    build: Mapping[str, Any],
    inputs: Mapping[str, Any],
    exporter: Mapping[str, Any],
) -> dict[str, Any]:
    """The key of one export, as JSON-ready data. ``weights`` is what the weights are (see
    :func:`weights_identity`); ``seed`` is set for random weights only; ``build`` are the
    ``load_model`` keywords of the build; ``inputs`` the sample inputs' names, shapes (batch
    excluded) and dtypes; ``exporter`` the export options."""
    from ..rows import plain

    return {
        "format": CACHE_FORMAT,
        "format_version": CACHE_FORMAT_VERSION,
        "model": model,
        "variant": variant,
        "weights": weights,
        "seed": seed,
        "dtype": dtype,
        "opset": opset,
        "build": json.loads(json.dumps(plain(dict(build)), sort_keys=True, default=repr)),
        "inputs": json.loads(json.dumps(plain(dict(inputs)), default=repr)),
        "exporter": dict(exporter),
        "code": code_version(model),
        "libraries": library_versions(),
    }


def weights_identity(provenance: str, describe: str, path: Path | None = None) -> str:
    """What a build's weights are, for the key: ``"random"``, ``"pretrained <the pinned source>"``,
    or ``"local <path> sha256 <digest>"`` (a folder's digest covers every file in it)."""
    if provenance == "random":
        return "random"
    if provenance.startswith("pretrained"):
        return f"pretrained {describe}"
    if path is None:
        raise ValueError(f"weights {provenance!r} need the local path they came from")
    return f"local {path.resolve()} sha256 {_path_digest(path)}"


def _path_digest(path: Path) -> str:
    if path.is_file():
        return file_sha256(path)
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(f"{file.relative_to(path).as_posix()}\0{file_sha256(file)}\0".encode())
    return digest.hexdigest()


def key_digest(key: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def entry_dir(root: Path, key: Mapping[str, Any]) -> Path:
    """Where the export of ``key`` lives under the cache root ``root``."""
    return Path(root) / "onnx" / key["model"] / key["variant"] / key_digest(key)[:24]


# ---- entries ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedExport:
    """A trusted entry: the graph, its file, and the record it was written with."""

    model: "onnx.ModelProto"
    path: Path
    record: dict[str, Any]


def graph_file(stem: str) -> str:
    return f"{stem}.onnx"


def save_graph(model: "onnx.ModelProto", folder: Path, stem: str) -> list[Path]:
    """Write ``model`` into ``folder`` as ``<stem>.onnx``, its tensors in ``<stem>.onnx.data``
    beside it when it reaches :data:`EXTERNAL_DATA_BYTES`. Returns the files written. The caller
    owns ``folder`` (a temporary one that is then renamed into place)."""
    import onnx

    path = Path(folder) / graph_file(stem)
    if model.ByteSize() < EXTERNAL_DATA_BYTES:
        onnx.save_model(model, str(path))
        return [path]
    copy = onnx.ModelProto()
    copy.CopyFrom(model)  # saving with external data rewrites the tensors it is given
    location = f"{path.name}.data"
    onnx.save_model(copy, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location=location)
    return [path, path.with_name(location)]


def write_entry(
    folder: Path, model: "onnx.ModelProto", key: Mapping[str, Any], *, stem: str, extra: Mapping[str, Any]
) -> Path:
    """Write the entry for ``key`` at ``folder`` atomically (a corrupt one there is replaced).
    ``extra`` joins the record (input and output names, provenance). Returns the graph's path."""

    def write(tmp: Path) -> None:
        files = save_graph(model, tmp, stem)
        record = {
            "key": dict(key),
            "graph": files[0].name,
            "files": {f.name: file_sha256(f) for f in files},
            **extra,
        }
        (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")

    atomic_write_folder(folder, write)
    return Path(folder) / graph_file(stem)


def read_entry(folder: Path, key: Mapping[str, Any]) -> CachedExport | None:
    """The entry at ``folder`` when it can be trusted for ``key``; ``None`` when there is none or
    it is corrupt (then with one :class:`CacheRebuildWarning` saying why)."""
    folder = Path(folder)
    if not folder.exists():
        return None
    try:
        return _read_trusted(folder, key)
    except _Untrusted as why:
        warnings.warn(
            f"the cached ONNX export at {folder} is not used and is being rebuilt: {why}",
            CacheRebuildWarning,
            stacklevel=3,
        )
        return None


class _Untrusted(Exception):
    pass


def _read_trusted(folder: Path, key: Mapping[str, Any]) -> CachedExport:
    import onnx

    try:
        record = json.loads((folder / RECORD_FILE).read_text())
    except (OSError, ValueError) as err:
        raise _Untrusted(f"its {RECORD_FILE} cannot be read ({one_line(err)})") from None
    if not isinstance(record, dict) or record.get("key") != dict(key):
        raise _Untrusted(f"its {RECORD_FILE} was written for another export (its key differs)")
    files, graph = record.get("files"), record.get("graph")
    if not isinstance(files, dict) or graph not in files:
        raise _Untrusted(f"its {RECORD_FILE} lists no graph file")
    for name, digest in files.items():
        path = folder / name
        if not path.is_file():
            raise _Untrusted(f"{name} is missing")
        if file_sha256(path) != digest:
            raise _Untrusted(f"{name} ({path.stat().st_size} bytes) does not have its recorded sha256")
    path = folder / graph
    try:
        model = onnx.load(str(path))
        check_graph(model, path)
    except Exception as err:  # onnx raises DecodeError, ValidationError, OSError...
        raise _Untrusted(f"{graph} does not load as a valid ONNX model ({one_line(err)})") from None
    return CachedExport(model, path, record)


def check_graph(model: "onnx.ModelProto", path: Path | None = None) -> None:
    """``onnx.checker.check_model``, on the file when the graph is too large for one protobuf."""
    import onnx

    if path is not None and model.ByteSize() >= min(EXTERNAL_DATA_BYTES, PROTOBUF_LIMIT):
        onnx.checker.check_model(str(path))
    else:
        onnx.checker.check_model(model)


def publish(graph: Path, dest: Path) -> Path:
    """Copy a graph file (and its ``.data`` file, if it has one) into the folder ``dest``, each with
    the one atomic writer, the data first: ``dest/<graph name>`` is complete once it exists."""
    import shutil

    dest = Path(dest)
    data = graph.with_name(f"{graph.name}.data")
    if data.is_file():
        atomic_write(dest / data.name, lambda tmp: shutil.copyfile(data, tmp))
    return atomic_write(dest / graph.name, lambda tmp: shutil.copyfile(graph, tmp))
