"""The typed parts of a variant row: one weights record per source, the input spec, the test spec.

:class:`..config.ModelConfig` holds one of each. Every record checks its own fields when it is
constructed, so a mistyped table fails when its loader module is imported, naming the record and the
field. Only the standard library is imported here: listing every variant must not pay for torch.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any, ClassVar, Mapping
from urllib.parse import urlsplit

_HEX = frozenset("0123456789abcdef")


def is_hex(text: str, length: int | None = None) -> bool:
    """Lower-case hex digits only (not ``int(text, 16)``: it also takes ``0x`` and underscores)."""
    return bool(text) and (length is None or len(text) == length) and set(text) <= _HEX


def check_fields(record: Any) -> None:
    """A TypeError naming ``record``'s class and field when a value does not match its annotation.

    Mappings are frozen into read-only views, so a row stays immutable all the way down.
    """
    owner = type(record).__name__
    for name, (hint, matches) in _hints(type(record)).items():
        value = getattr(record, name)
        if not matches(value):
            raise TypeError(f"{owner}.{name} must be {_describe(hint)}, got {type(value).__name__} {value!r}")
        if isinstance(value, Mapping) and not isinstance(value, types.MappingProxyType):
            object.__setattr__(record, name, types.MappingProxyType(dict(value)))


def check_sha256(owner: str, name: str, value: str | None) -> None:
    if value is not None and not is_hex(value, 64):
        raise ValueError(f"{owner}.{name} must be a sha256: 64 lower-case hex digits, got {value!r}")


def check_positive(owner: str, name: str, value: int | float | None) -> None:
    if value is not None and not value > 0:
        raise ValueError(f"{owner}.{name} must be > 0, got {value!r}")


_CONFIG_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def config_paths(key: str | tuple[str, ...]) -> tuple[str, ...]:
    """A config-field key (``"n_layer"``, ``"vision_config.num_hidden_layers"``) or a tuple of them,
    as a tuple of dotted paths."""
    return (key,) if isinstance(key, str) else tuple(key)


def check_config_paths(owner: str, paths: tuple[str, ...], *, at_least_one: bool = False) -> None:
    """A ValueError naming ``owner`` unless every path is dotted identifiers
    (``vision_config.num_hidden_layers``), none repeats, and (``at_least_one``) there is one."""
    if at_least_one and not paths:
        raise ValueError(f"{owner} must name at least one config field, got an empty tuple")
    for path in paths:
        if not _CONFIG_PATH.fullmatch(path):
            raise ValueError(
                f"{owner} must be config field names, dotted into sub-configs "
                f"('n_layer', 'vision_config.num_hidden_layers'), got {path!r}"
            )
    if len(set(paths)) != len(paths):
        raise ValueError(f"{owner} names a field twice: {paths!r}")


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: records as dicts, enums as strings, tuples as lists."""
    import enum

    if hasattr(value, "__dataclass_fields__"):
        out = {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        kind = getattr(value, "kind", None)
        return {"kind": kind, **out} if kind else out
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, (tuple, list)):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value


# ---- weights: one record per source ---------------------------------------------------------------


@dataclass(frozen=True)
class HubWeights:
    """Hugging Face ``from_pretrained`` at a pinned commit.

    config_file: the architecture config shipped beside the loader (relative to its folder), so
        ``weights="random"`` needs no hub.
    model_class: the transformers class that builds the variant (its task head).
    layers_key: the config field that ``num_layers=`` cuts (GPT-2's ``n_layer``); a dotted path
        into a sub-config (SAM's ``vision_config.num_hidden_layers``); or a tuple of paths cut
        together to the same depth (CLIP's text and vision towers), whose shallowest is the maximum.
    layer_index_keys: config fields (dotted paths too) that list indices of the layers being cut
        (SAM's ``vision_config.global_attn_indexes``); a cut keeps the indices below it, so the
        config describes the layers the model has.
    mirror_packages: folders of installed packages (``"<package>/<folder>"``) holding an identical
        snapshot of the repository, read when the hub cache misses; mirror_sha256 pins their files.
    mirror_format: what the mirror folders hold: ``"huggingface"`` (a ``save_pretrained`` snapshot)
        or ``"ctranslate2"`` (a CTranslate2 ``model.bin`` of the same weights, converted on load).
    """

    kind: ClassVar[str] = "huggingface"

    repo_id: str
    revision: str
    config_file: str
    model_class: str
    layers_key: str | tuple[str, ...] = "num_hidden_layers"
    mirror_packages: tuple[str, ...] = ()
    mirror_sha256: Mapping[str, str] = field(default_factory=dict)
    layer_index_keys: tuple[str, ...] = ()
    mirror_format: str = "huggingface"

    #: what a mirror folder may hold (see ``mirror_format``)
    MIRROR_FORMATS: ClassVar[tuple[str, ...]] = ("huggingface", "ctranslate2")

    def __post_init__(self) -> None:
        check_fields(self)
        check_config_paths("HubWeights.layers_key", self.layer_paths, at_least_one=True)
        check_config_paths("HubWeights.layer_index_keys", self.layer_index_keys)
        if not is_hex(self.revision, 40):
            raise ValueError(f"HubWeights.revision must be a 40-hex commit, got {self.revision!r}")
        if self.mirror_format not in self.MIRROR_FORMATS:
            raise ValueError(
                f"HubWeights.mirror_format must be one of {', '.join(self.MIRROR_FORMATS)}, got {self.mirror_format!r}"
            )
        for name, digest in self.mirror_sha256.items():
            check_sha256("HubWeights", f"mirror_sha256[{name!r}]", digest)
        if self.mirror_sha256 and not self.mirror_packages:
            raise ValueError("HubWeights.mirror_sha256 pins mirror files, but no mirror_packages are declared")

    @classmethod
    def shipped(cls, repo_id: str, revision: str, model_class: str, **kwargs: Any) -> "HubWeights":
        """The record whose config ships where every loader puts it: ``configs/<org>-<name>.json``."""
        return cls(repo_id, revision, f"configs/{repo_id.replace('/', '-')}.json", model_class, **kwargs)

    @property
    def layer_paths(self) -> tuple[str, ...]:
        """``layers_key`` as a tuple of dotted paths, however it was written."""
        return config_paths(self.layers_key)

    @property
    def pretrained_model_name(self) -> str:
        return self.repo_id


@dataclass(frozen=True)
class TorchvisionWeights:
    """A torchvision builder and a member of its weights enum; ``sha256`` is the checkpoint's full
    digest, or ``None`` where only the prefix in torchvision's file name is known."""

    kind: ClassVar[str] = "torchvision"

    builder: str
    tag: str
    sha256: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)
        check_sha256("TorchvisionWeights", "sha256", self.sha256)

    @property
    def pretrained_model_name(self) -> str:
        return self.builder


@dataclass(frozen=True)
class TimmWeights:
    """A timm architecture with its pretrained tag (``resnet50.a1_in1k``) at a pinned hub commit."""

    kind: ClassVar[str] = "timm"

    architecture: str
    tag: str
    revision: str

    def __post_init__(self) -> None:
        check_fields(self)
        if not is_hex(self.revision, 40):
            raise ValueError(f"TimmWeights.revision must be a 40-hex commit, got {self.revision!r}")

    @property
    def pretrained_model_name(self) -> str:
        return self.architecture


@dataclass(frozen=True)
class UrlWeights:
    """A release file we fetch and read ourselves (Darknet ``.weights``), pinned by sha256;
    ``name`` is the network it holds (the cfg name, ``yolov4-tiny``)."""

    kind: ClassVar[str] = "url"

    name: str
    url: str
    sha256: str

    def __post_init__(self) -> None:
        check_fields(self)
        parts = urlsplit(self.url)
        if not parts.scheme or not parts.path.rsplit("/", 1)[-1]:
            raise ValueError(f"UrlWeights.url must be a URL ending in a file name, got {self.url!r}")
        check_sha256("UrlWeights", "sha256", self.sha256)

    @property
    def pretrained_model_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class DiffusersWeights:
    """A diffusers model (``UNet2DConditionModel``, ``AutoencoderKL``) in one subfolder of a hub
    repository (a pipeline's ``unet/``, ``vae/``) at a pinned commit.

    subfolder: the component's folder in the repository (``""`` for a repository that is the model).
    config_file: that folder's ``config.json``, shipped beside the loader, so ``weights="random"``
        needs no hub.
    model_class: the diffusers class that builds it (the config's ``_class_name``).
    """

    kind: ClassVar[str] = "diffusers"

    repo_id: str
    revision: str
    subfolder: str
    config_file: str
    model_class: str

    def __post_init__(self) -> None:
        check_fields(self)
        if not is_hex(self.revision, 40):
            raise ValueError(f"DiffusersWeights.revision must be a 40-hex commit, got {self.revision!r}")
        parts = self.subfolder.split("/")
        if self.subfolder and (self.subfolder.startswith("/") or any(p in ("", ".", "..") for p in parts)):
            raise ValueError(
                f"DiffusersWeights.subfolder must be a relative folder of the repository (unet, vae), "
                f"got {self.subfolder!r}"
            )

    @classmethod
    def shipped(cls, repo_id: str, revision: str, subfolder: str, model_class: str) -> "DiffusersWeights":
        """The record whose config ships at ``configs/<org>-<name>-<subfolder>.json``."""
        name = "-".join(p for p in (repo_id.replace("/", "-"), subfolder.replace("/", "-")) if p)
        return cls(repo_id, revision, subfolder, f"configs/{name}.json", model_class)

    @property
    def pretrained_model_name(self) -> str:
        return self.repo_id


#: Every weights record a row may hold.
WEIGHTS_RECORDS = (HubWeights, TorchvisionWeights, TimmWeights, UrlWeights, DiffusersWeights)
Weights = typing.Union[HubWeights, TorchvisionWeights, TimmWeights, UrlWeights, DiffusersWeights]


# ---- what the task bases read, and what the test suite runs ------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """The sample inputs: what the task base of the row's task reads (and nothing else is set).

    image_size: (channels, height, width) of one image (vision tasks).
    latent_size: (channels, height, width) of one latent (diffusion components: a denoiser's
        ``sample``, a VAE decoder's input).
    max_length: the sequence length text is padded or cut to (text tasks).
    max_new_tokens / prompt: greedy generation and its prompt (causal LMs).
    language: which of the task's sample texts (text encoders).
    special_ids: pad/unk/cls/sep/mask ids for synthetic inputs when no tokenizer can be had.
    vocab_sha256: sha256 of the model's vocabulary file; a fallback tokenizer must match it.
    tokenizer_fallbacks: installed package folders with an identical tokenizer (``vocab_sha256``).
    """

    image_size: tuple[int, int, int] | None = None
    latent_size: tuple[int, int, int] | None = None
    max_length: int | None = None
    max_new_tokens: int | None = None
    prompt: str | None = None
    language: str | None = None
    special_ids: Mapping[str, int] | None = None
    vocab_sha256: str | None = None
    tokenizer_fallbacks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_fields(self)
        for name in ("max_length", "max_new_tokens"):
            check_positive("InputSpec", name, getattr(self, name))
        for name in ("image_size", "latent_size"):
            for side in getattr(self, name) or ():
                check_positive("InputSpec", name, side)
        check_sha256("InputSpec", "vocab_sha256", self.vocab_sha256)
        if self.tokenizer_fallbacks and self.vocab_sha256 is None:
            raise ValueError("InputSpec.tokenizer_fallbacks need a vocab_sha256 to check them against")


@dataclass(frozen=True)
class TestSpec:
    """What the default test suite runs and what a frontend may expect of the variant.

    num_layers: the reduced depth the suite runs at (sources that cut ``num_layers`` only).
    overrides: config keywords of the reduced build (``load_model(**overrides)``), for sources whose
        architecture is a config that takes them (Hugging Face, diffusers): narrower blocks where
        cutting the depth is not enough (``{"block_out_channels": (32, 64, 64, 64)}``).
    num_params: the parameter count of that reduced build (checked on meta); the ``large`` mark is
        decided on it, so a 1-layer 70B (2 G parameters of embeddings) is deselected by default.
    input_size: the image (or latent) size the suite's forward passes use when the variant's own is
        too slow.
    bf16_pcc: the PCC a bf16 run reaches against fp32 with the same weights.
    export_unsupported: why ``torch.export.export`` cannot capture the model; ``None``: it can.
    onnx_unsupported: why the ONNX loader cannot export the variant (``torch.onnx.export``, dynamo);
        ``None``: it can. Its ``load_model`` then refuses with this reason.
    quirks: known behaviours worth knowing before compiling it.
    """

    __test__: ClassVar[bool] = False  # not a pytest class, whatever its name

    num_layers: int | None = None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    num_params: int | None = None
    input_size: tuple[int, int, int] | None = None
    bf16_pcc: float = 0.99
    export_unsupported: str | None = None
    onnx_unsupported: str | None = None
    quirks: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_fields(self)
        check_positive("TestSpec", "num_layers", self.num_layers)
        bad = sorted(k for k in self.overrides if not k.isidentifier() or k == "num_layers")
        if bad:
            raise ValueError(f"TestSpec.overrides must be config fields (num_layers has its own field), got {bad}")
        check_positive("TestSpec", "num_params", self.num_params)
        for side in self.input_size or ():
            check_positive("TestSpec", "input_size", side)
        if not 0 < self.bf16_pcc <= 1:
            raise ValueError(f"TestSpec.bf16_pcc must be in (0, 1], got {self.bf16_pcc!r}")


# ---- the type check behind every record ---------------------------------------------------------------


@lru_cache(maxsize=None)
def _hints(cls: type) -> dict[str, Any]:
    """Field name -> (annotation, its checker), worked out once per record class."""
    names = {f.name for f in fields(cls)}
    return {k: (v, _checker(v)) for k, v in typing.get_type_hints(cls).items() if k in names}


def _checker(hint: Any) -> Any:
    """A predicate for values of ``hint``: built once, since every row of every table is checked
    when listing imports the loaders."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return lambda value: True
    if hint is type(None):
        return lambda value: value is None
    if origin in (typing.Union, types.UnionType):
        options = [_checker(arg) for arg in args]
        return lambda value: any(check(value) for check in options)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            each = _checker(args[0])
            return lambda value: isinstance(value, tuple) and all(each(v) for v in value)
        items = [_checker(a) for a in args]
        return lambda value: (
            isinstance(value, tuple) and len(value) == len(items) and all(c(v) for c, v in zip(items, value))
        )
    if origin is not None and issubclass(origin, Mapping):
        key, val = (_checker(a) for a in args)
        return lambda value: isinstance(value, Mapping) and all(key(k) and val(v) for k, v in value.items())
    if hint is float:
        return lambda value: isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return lambda value: isinstance(value, int) and not isinstance(value, bool)
    return lambda value: isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is type(None):
        return "None"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a tuple of {_describe(args[0])}"
        return f"a tuple ({', '.join(_describe(a) for a in args)})"
    if origin is not None and issubclass(origin, Mapping):
        return f"a mapping of {_describe(args[0])} to {_describe(args[1])}"
    return getattr(hint, "__name__", str(hint))


__all__ = [
    "WEIGHTS_RECORDS",
    "DiffusersWeights",
    "HubWeights",
    "InputSpec",
    "TestSpec",
    "TimmWeights",
    "TorchvisionWeights",
    "UrlWeights",
    "Weights",
    "check_config_paths",
    "check_fields",
    "config_paths",
    "is_hex",
    "plain",
]
