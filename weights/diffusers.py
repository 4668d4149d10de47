"""diffusers models (a pipeline's ``unet/`` or ``vae/``): the shipped config for random weights,
``from_pretrained`` at a pinned revision and subfolder for the real ones.

``"random"`` builds the class from the component's ``config.json`` shipped beside the loader, on the
meta device, then allocates it once in the target dtype and initialises it once from a private
generator (:mod:`.materialize`), with PyTorch's own per-module initialisation, which is what
``from_config`` gives. ``"pretrained"`` reads the pinned snapshot's subfolder when the hub cache
holds it: its ``config.json`` is checked against the variant and its weights (one safetensors file,
an index of shards, or a ``.bin`` read with ``weights_only``) are assigned onto the meta-built model,
after diffusers' own renaming of legacy keys (the attention names SD 1.x's VAE was saved with).
That holds one copy of the weights, in the target dtype, and patches nothing. Otherwise
``from_pretrained(repo, subfolder=, revision=, dtype=, local_files_only=)`` fetches them,
within the deadlines of :func:`.huggingface.hub_settings`. (While it builds the model, diffusers
sets torch's default dtype and stubs out ``torch.nn.init``, process-wide, for the duration of its
call: one more reason the cached path is ours.)

A source may ``wrap`` the model it builds: a function from the diffusers model to the module the
loader returns (the decoding half of an ``AutoencoderKL``). Parameters, counts and state-dict keys
are then the wrapper's; a state dict of the whole model is accepted and its other half dropped.
"""

from __future__ import annotations

import copy
import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any, Callable

import diffusers
import torch
from torch import nn

from ..errors import CorruptWeightsError, RemoteCodeError, WeightsUnavailableError, one_line
from . import WeightsSource, offline_switch_on, read_state_dict
from .files import check_state_dict_keys, state_dict_differences
from .hf_folder import read_safetensors
from .huggingface import hub_settings, is_hub_cached, structural
from .materialize import assign_state_dict_, build_random, construct_on_meta, count_parameters
from .policy import hub_endpoint

CONFIG_NAME = "config.json"
#: diffusers' weights file names, in its order of preference
SAFETENSORS = "diffusion_pytorch_model.safetensors"
SAFETENSORS_INDEX = "diffusion_pytorch_model.safetensors.index.json"
BIN = "diffusion_pytorch_model.bin"
WEIGHTS_FILES = (SAFETENSORS, SAFETENSORS_INDEX, BIN)


class DiffusersConfig(dict):
    """A diffusers model's config: every argument of the class's constructor (its defaults, then
    the shipped ``config.json``, then the keywords asked for), as a plain dict that ``from_config``
    takes, with attribute access as ``model.config`` has. Each call gets its own copy to change."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"diffusers config has no field {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(dict(self))


#: parameters of an architecture, by (model class, wrapper, config JSON): a pure function of the three
_parameter_counts: dict[tuple[str, str, str], int] = {}


class DiffusersSource(WeightsSource):
    """One diffusers model class in ``subfolder`` of a hub repository at a pinned revision."""

    hub = True

    def __init__(
        self,
        repo_id: str,
        *,
        revision: str | None,
        subfolder: str,
        config_file: Path,
        model_class: str,
        wrap: Callable[[nn.Module], nn.Module] | None = None,
    ) -> None:
        self.repo_id = repo_id
        self.revision = revision
        self.subfolder = subfolder
        self.config_file = Path(config_file)
        self.model_class = model_class
        self.wrap = wrap

    @classmethod
    def from_record(cls, weights: Any, loader_dir: Path, **options: Any) -> "DiffusersSource":
        """The source of a :class:`~..rows.DiffusersWeights` row, its config beside the loader."""
        return cls(
            weights.repo_id,
            revision=weights.revision,
            subfolder=weights.subfolder,
            config_file=Path(loader_dir) / weights.config_file,
            model_class=weights.model_class,
            **options,
        )

    @property
    def host(self) -> str:  # type: ignore[override]
        return hub_endpoint()

    def describe(self) -> str:
        where = f"{self.repo_id}@{self.revision or 'main'}"
        return f"Hugging Face {where} {self.subfolder + '/ ' if self.subfolder else ''}(diffusers {self.model_class})"

    def remedy(self) -> str:
        include = f" --include '{self.subfolder}/*'" if self.subfolder else ""
        return (
            f"fill the Hugging Face cache (HF_HOME) with {self.repo_id} at revision {self.revision} "
            f"(`python -m tt_forge_models prefetch` on a machine with network, or "
            f"`hf download {self.repo_id} --revision {self.revision}{include}`), or pass weights='random'"
        )

    # ---- architecture --------------------------------------------------------------------------

    def _model_cls(self) -> Any:
        return getattr(diffusers, self.model_class)

    def _init_defaults(self) -> dict[str, Any]:
        """The constructor's arguments with their defaults: the fields a config may set."""
        init = inspect.signature(self._model_cls().__init__).parameters
        return {
            name: p.default
            for name, p in init.items()
            if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        }

    def _shipped(self) -> dict[str, Any]:
        with open(self.config_file) as f:
            return json.load(f)

    def load_config(self, **overrides: Any) -> DiffusersConfig:
        """The shipped architecture config with ``overrides`` (config fields of the class); builds
        nothing. ``num_layers`` is no field of a diffusers model: its depths are per block."""
        return self._config_from(self._shipped(), overrides)

    def _config_from(self, data: dict[str, Any], overrides: dict[str, Any]) -> DiffusersConfig:
        defaults = self._init_defaults()
        unknown = sorted(set(overrides) - set(defaults))
        if unknown:
            hint = (
                " (diffusers models have per-block depths: pass layers_per_block=)" if "num_layers" in unknown else ""
            )
            raise TypeError(
                f"unknown keyword(s) {', '.join(unknown)} for {self.describe()}: not a load option nor a "
                f"field of its {self.model_class} config{hint}"
            )
        # Constructor arguments and diffusers' own "_" metadata; nothing else (an export's record,
        # auto_map, which check_folder_config refuses first) reaches from_config.
        data = {k: v for k, v in data.items() if k in defaults or (k.startswith("_") and k != "auto_map")}
        return DiffusersConfig({**defaults, **data, **overrides})

    def _constructor(self, config: dict[str, Any], *, wrapped: bool = True) -> Callable[[], nn.Module]:
        """Builds the model of ``config`` (wrapped, unless ``wrapped=False``). A config the class
        cannot be built from (``block_out_channels=3``) is the ValueError it is, whatever diffusers
        raised for it."""
        cls, wrap = self._model_cls(), self.wrap if wrapped else None

        def construct() -> nn.Module:
            try:
                model = cls.from_config(dict(config))
            except MemoryError:
                raise
            except Exception as err:  # noqa: BLE001 - diffusers raises TypeError, IndexError... for a bad config
                raise ValueError(
                    f"cannot build {self.model_class} from this config ({_fields(config, self._shipped())}): "
                    f"{type(err).__name__}: {one_line(err)}"
                ) from err
            return wrap(model) if wrap is not None else model

        return construct

    def construct(self, **overrides: Any) -> nn.Module:
        """The plain framework build: fp32, ``from_config``'s own init."""
        return self._constructor(self.load_config(**overrides))()

    def build_meta(self, *, dtype: Any = None, **overrides: Any) -> nn.Module:
        return _to_dtype(construct_on_meta(self._constructor(self.load_config(**overrides))), dtype)

    def build_random(self, *, dtype: Any, seed: int, **overrides: Any) -> nn.Module:
        construct = self._constructor(self.load_config(**overrides))
        return build_random(construct, dtype=dtype, seed=seed, init=module_defaults_init_)

    def estimate_bytes(self, *, dtype: Any, path: Path | None = None, **overrides: Any) -> int | None:
        """Parameters of the architecture (of the folder's config for a folder), counted on meta,
        times the dtype size."""
        folder = _component_folder(path, self.subfolder) if path is not None else None
        config = self._checked_folder_config(folder, overrides) if folder else self.load_config(**overrides)
        wrap = getattr(self.wrap, "__qualname__", repr(self.wrap))
        key = (self.model_class, wrap, json.dumps(config, sort_keys=True, default=str))
        if key not in _parameter_counts:
            _parameter_counts[key] = count_parameters(construct_on_meta(self._constructor(config)))
        return _parameter_counts[key] * (dtype or torch.float32).itemsize

    # ---- checking a folder against the variant ---------------------------------------------------

    def read_folder_config(self, folder: Path) -> dict[str, Any]:
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(
                f"{str(folder)!r} has no {CONFIG_NAME}; expected a diffusers save_pretrained folder "
                f"(or a pipeline folder with {self.subfolder or 'the model'}/{CONFIG_NAME})"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CorruptWeightsError(f"cannot read {str(path)!r} as JSON: {one_line(err)}") from err
        if not isinstance(data, dict):
            raise CorruptWeightsError(f"{str(path)!r} holds {type(data).__name__}, not a config object")
        return data

    def check_folder_config(self, data: dict[str, Any], *, where: str, overridden: set[str]) -> None:
        """Refuse a config that asks to run its own code, of another class, or of another
        architecture than the variant's: every structural field of the shipped config (sizes,
        counts and block types) must agree, except those in ``overridden``."""
        if "auto_map" in data:
            raise RemoteCodeError(
                f"{where} declares auto_map {sorted(data['auto_map'])}: it asks to run Python code shipped "
                "with the weights, which this package never does; use a folder saved from the diffusers class itself"
            )
        theirs_class = data.get("_class_name")
        if theirs_class is not None and theirs_class != self.model_class:
            raise CorruptWeightsError(
                f"{where} holds a {theirs_class} model, not {self.model_class} ({self.describe()}); "
                "pass a folder of this variant's model"
            )
        defaults = self._init_defaults()
        differing = []
        for key, value in self._shipped().items():
            if key.startswith("_") or key in overridden or not structural(value, names=True):
                continue
            their = data.get(key, defaults.get(key))
            if _plain(their) != _plain(value):
                differing.append(f"{key} {their!r} (variant: {value!r})")
        if differing:
            raise CorruptWeightsError(
                f"{where} is not the architecture of {self.describe()}: {'; '.join(differing)}. Pass those "
                "fields as keywords to load another size on purpose, or use the variant it holds"
            )

    def _checked_folder_config(self, folder: Path, overrides: dict[str, Any]) -> DiffusersConfig:
        data = self.read_folder_config(folder)
        self.check_folder_config(data, where=repr(str(folder)), overridden=set(overrides))
        return self._config_from(data, overrides)

    # ---- weights -------------------------------------------------------------------------------

    def _assign(self, state: dict[str, torch.Tensor], config: dict[str, Any], *, dtype: Any, origin: str) -> nn.Module:
        """``state`` assigned onto the model built on meta from ``config``: one copy of the weights,
        cast once; diffusers' own renaming of legacy keys first. For a wrapped model, a state dict
        of the whole diffusers model is accepted and the tensors the wrapper leaves out are dropped
        (never read: safetensors are memory-mapped)."""
        full = construct_on_meta(self._constructor(config, wrapped=False), buffers_on_meta=False)
        fix = getattr(full, "_fix_state_dict_keys_on_load", None)
        if fix is not None:
            state = dict(state)
            fix(state)
        model = self.wrap(full) if self.wrap is not None else full
        if model is not full and not any(state_dict_differences(full, state).values()):
            kept = set(model.state_dict(keep_vars=True))
            state = {key: tensor for key, tensor in state.items() if key in kept}
        check_state_dict_keys(model, state, origin=origin)
        return assign_state_dict_(model, state, dtype=dtype)

    def _load_folder(self, folder: Path, config: dict[str, Any], *, dtype: Any) -> nn.Module | None:
        """The folder's weights on ``config``'s model, or None when the folder holds none to read
        (an index whose shards are not all here)."""
        files = _weights_files(folder)
        if files is None:
            return None
        try:
            state = read_safetensors(files) if files[0].suffix == ".safetensors" else read_state_dict(files[0])
        except CorruptWeightsError as err:
            raise CorruptWeightsError(f"{err}. In {folder}: delete it and {self.remedy()}") from err
        return self._assign(state, config, dtype=dtype, origin=str(folder))

    def _cached_folder(self) -> Path | None:
        """The pinned snapshot's component folder in the hub cache, when its config is there."""
        import huggingface_hub

        name = f"{self.subfolder}/{CONFIG_NAME}" if self.subfolder else CONFIG_NAME
        found = huggingface_hub.try_to_load_from_cache(self.repo_id, name, revision=self.revision)
        return Path(found).parent if isinstance(found, str) else None

    def load_pretrained(self, *, dtype: Any, offline: bool, **overrides: Any) -> nn.Module:
        self.load_config(**overrides)  # unknown keywords are refused before anything is read
        folder = self._cached_folder()
        if folder is not None:  # a pinned revision in the cache is final: no request to the hub
            config = self._checked_folder_config(folder, overrides)
            model = self._load_folder(folder, config, dtype=dtype)
            if model is not None:
                return model
        if overrides:  # the hub holds the published architecture only: nothing to fetch
            raise WeightsUnavailableError(
                f"no cached weights of the architecture with {', '.join(sorted(overrides))} changed (the hub "
                "holds the published one); pass a local folder of that size, or drop the config keywords"
            )
        return self._from_pretrained(dtype=dtype, offline=offline)

    def _from_pretrained(self, *, dtype: Any, offline: bool) -> nn.Module:
        """diffusers' own download and load of the pinned subfolder, within our hub deadlines."""
        options = {"subfolder": self.subfolder} if self.subfolder else {}
        try:
            with hub_settings(offline=offline or offline_switch_on()):
                model = self._model_cls().from_pretrained(
                    self.repo_id,
                    revision=self.revision,
                    dtype=dtype or torch.float32,
                    local_files_only=offline,
                    trust_remote_code=False,  # a model class loads no code; said explicitly, as everywhere
                    # with accelerate diffusers builds on meta; without it, asking would only log a warning
                    low_cpu_mem_usage=importlib.util.find_spec("accelerate") is not None,
                    **options,
                )
        except (CorruptWeightsError, RemoteCodeError, WeightsUnavailableError, TypeError):
            raise
        except Exception as err:  # noqa: BLE001 - OSError, HTTP errors, SafetensorError by version
            where = f"{self.repo_id}/{self.subfolder + '/' if self.subfolder else ''}@{self.revision or 'main'}"
            raise WeightsUnavailableError(
                f"{where} is not {'cached' if offline else 'reachable'}: {type(err).__name__}: {one_line(err)}"
            ) from err
        return _to_dtype(self.wrap(model) if self.wrap is not None else model, dtype)

    def load_path(self, path: Path, *, dtype: Any, **overrides: Any) -> nn.Module:
        """A diffusers ``save_pretrained`` folder of the model (or a pipeline folder holding it in
        ``subfolder``), checked against the variant; or a state dict of the architecture: a file,
        or an export folder of a wrapped model (``model.safetensors`` and the export record)."""
        folder = _component_folder(path, self.subfolder)
        if folder is not None:
            config = self._checked_folder_config(folder, overrides)
            model = self._load_folder(folder, config, dtype=dtype)
            if model is None:
                raise CorruptWeightsError(
                    f"{str(folder)!r} has a {CONFIG_NAME} but no complete weights ({', '.join(WEIGHTS_FILES)})"
                )
            return model
        return self._assign(read_state_dict(path), self.load_config(**overrides), dtype=dtype, origin=str(path))

    def _hub_names(self, *names: str) -> list[str]:
        return [f"{self.subfolder}/{n}" if self.subfolder else n for n in names]

    def is_cached(self) -> bool:
        config, *weights = self._hub_names(CONFIG_NAME, *WEIGHTS_FILES)
        return is_hub_cached(self.repo_id, config, self.revision) and any(
            is_hub_cached(self.repo_id, name, self.revision) for name in weights
        )

    def prefetch(self) -> None:
        import huggingface_hub

        patterns = self._hub_names(CONFIG_NAME, SAFETENSORS, SAFETENSORS_INDEX, "diffusion_pytorch_model-*.safetensors")
        with hub_settings(offline=False):
            huggingface_hub.snapshot_download(self.repo_id, revision=self.revision, allow_patterns=patterns)


@torch.no_grad()
def module_defaults_init_(model: nn.Module) -> None:
    """PyTorch's own initialisation, once per module: ``reset_parameters`` of every module that has
    one (convolutions, linears, norms: what ``from_config`` gives a diffusers model); N(0, 0.02)
    for a parameter of a module without one."""
    for module in model.modules():
        direct = [p for p in module._parameters.values() if p is not None]
        if not direct:
            continue
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            for param in direct:
                nn.init.normal_(param, std=0.02)


def _to_dtype(model: nn.Module, dtype: Any) -> nn.Module:
    """``model`` in ``dtype`` by torch's own ``Module.to``: diffusers' override logs a warning about
    modules to keep in float32 on every cast, even when there are none."""
    return nn.Module.to(model, dtype) if dtype is not None else model


def _component_folder(path: Path, subfolder: str) -> Path | None:
    """The diffusers folder ``path`` names: itself when it holds a ``config.json``, else its
    ``subfolder`` (a pipeline folder, or a snapshot of the whole repository) when that does. None
    for a file, and for an export folder of a module diffusers cannot save (its ``config.json`` is
    the export record alone): both are read as a state dict."""
    from .export import EXPORT_FORMAT

    path = Path(path)
    if not path.is_dir():
        return None
    if not (path / CONFIG_NAME).is_file() and subfolder and (path / subfolder / CONFIG_NAME).is_file():
        return path / subfolder
    try:
        record = json.loads((path / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return path  # reported by read_folder_config
    return None if isinstance(record, dict) and record.get("format") == EXPORT_FORMAT else path


def _weights_files(folder: Path) -> list[Path] | None:
    """The files holding ``folder``'s weights, in diffusers' order of preference; None when there
    are none to read (an index whose shards are not all here)."""
    folder = Path(folder)
    if (folder / SAFETENSORS).is_file():
        return [folder / SAFETENSORS]
    index = folder / SAFETENSORS_INDEX
    if index.is_file():
        try:
            names = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise CorruptWeightsError(f"cannot read {str(index)!r}: {one_line(err)}") from err
        if any(not isinstance(n, str) or Path(n).name != n or n in ("", ".", "..") for n in names):
            raise CorruptWeightsError(f"{str(index)!r} names shards outside {folder}; shards must be file names")
        shards = [folder / name for name in names]
        return shards if shards and all(s.is_file() for s in shards) else None
    if (folder / BIN).is_file():
        return [folder / BIN]
    return None


def _fields(config: dict[str, Any], shipped: dict[str, Any]) -> str:
    """The fields of ``config`` that differ from the shipped config, as ``name=value``."""
    changed = [f"{k}={v!r}" for k, v in config.items() if k in shipped and _plain(shipped[k]) != _plain(v)]
    return ", ".join(changed) or "the shipped config"


def _plain(value: Any) -> Any:
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


__all__ = ["DiffusersConfig", "DiffusersSource", "module_defaults_init_"]
