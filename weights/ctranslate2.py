"""CTranslate2 models: the ``model.bin`` format, the Whisper variable layout, and a mirror source.

No ctranslate2 import: the format is read and written here, as ``ctranslate2/specs/model_spec.py``
(``ModelSpec._serialize``, binary version 6) writes it. Little-endian throughout:

- ``uint32`` binary version (6), a string (the spec's name, ``WhisperSpec``), ``uint32`` spec
  revision, ``uint32`` number of variables;
- per variable: a string (its name), ``uint8`` rank, ``rank`` x ``uint32`` dimensions, ``uint8``
  dtype id (float32 0, int8 1, int16 2, int32 3, float16 4, bfloat16 5), ``uint32`` number of
  bytes, then the bytes (C order);
- ``uint32`` number of aliases, then per alias two strings: the alias and the variable it names.

A string is a ``uint16`` length (the NUL included), the UTF-8 bytes and a NUL. Variables come in
name order; scalars (head counts, the activation id, flags) are rank-0 variables; a tensor equal to
an earlier one is stored once and aliased (Whisper's output projection is its token embedding).

The Whisper layout (``WhisperSpec`` revision 3, ctranslate2's ``WhisperLoader``) differs from
transformers' ``WhisperForConditionalGeneration`` in four ways the converters undo and redo:
self-attention Q, K and V are one fused Linear (``linear_0``), cross-attention K and V another
(``attention/linear_1``), the fused bias carries zeros where K has none (Whisper's ``k_proj`` has
no bias; a K bias adds ``q . b`` to every score of a query, which softmax cancels, so dropping it is
exact), and layer norms are ``gamma``/``beta``. The conv front end, positional tables and the tied
output projection map one to one.

torch is imported inside the functions; :class:`CTranslate2MirrorSource` subclasses the Hugging
Face source, so this module imports transformers like :mod:`.huggingface` (import it inside
methods). :func:`.sources.source_for` builds that source for a row whose
``HubWeights.mirror_format`` is ``"ctranslate2"``.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..errors import CorruptWeightsError
from .huggingface import HuggingFaceSource

if TYPE_CHECKING:  # pragma: no cover
    import torch

BINARY_VERSION = 6
#: dtype ids of the format, in the order of ctranslate2's ``DataType`` enum
DTYPE_NAMES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")


@dataclass
class CTranslate2Model:
    """The contents of a ``model.bin``: spec name and revision, variables (rank-0 tensors for
    scalars) and aliases (alias name -> the variable it names)."""

    spec: str
    revision: int
    variables: dict[str, "torch.Tensor"] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> "torch.Tensor":
        """A variable by name, following an alias; a CorruptWeightsError when absent."""
        target = self.aliases.get(name, name)
        if target not in self.variables:
            raise CorruptWeightsError(f"the CTranslate2 {self.spec} model has no variable {name!r}")
        return self.variables[target]

    def scalar(self, name: str) -> int:
        value = self.get(name)
        if value.dim() != 0:
            raise CorruptWeightsError(
                f"CTranslate2 variable {name!r} should be a scalar, has shape {list(value.shape)}"
            )
        return int(value)


# ---- the file format -------------------------------------------------------------------------------


def _torch_dtype(type_id: int) -> "torch.dtype":
    import torch

    return getattr(torch, DTYPE_NAMES[type_id])


class _Reader:
    """Bounds-checked reads from the file's bytes; every failure names the file and offset."""

    def __init__(self, data: bytearray, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def fail(self, what: str) -> CorruptWeightsError:
        return CorruptWeightsError(
            f"{self.path} is not a CTranslate2 model.bin ({len(self.data)} bytes): {what} at byte {self.pos}; "
            "it is truncated or another file"
        )

    def take(self, size: int, what: str) -> int:
        start = self.pos
        if size < 0 or start + size > len(self.data):
            raise self.fail(f"{what} runs past the end of the file")
        self.pos += size
        return start

    def unpack(self, fmt: str, what: str) -> int:
        start = self.take(struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self.data, start)[0]

    def string(self, what: str) -> str:
        size = self.unpack("<H", f"the length of {what}")
        start = self.take(size, what)
        raw = bytes(self.data[start : start + size])
        if size == 0 or raw[-1] != 0:
            raise self.fail(f"{what} is not a NUL-terminated string")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not UTF-8") from None


def read_model_bin(path: str | Path) -> CTranslate2Model:
    """Every variable and alias of a CTranslate2 ``model.bin`` (binary version 6).

    Tensors are views of one buffer holding the file (no second copy), except those whose offset
    is not a multiple of their element size, which are copied so every kernel may read them. A
    truncated, overlong or foreign file is a CorruptWeightsError naming the file and the offset.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CTranslate2 model file {str(path)!r} does not exist")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    reader = _Reader(data, path)
    version = reader.unpack("<I", "the binary version")
    if version != BINARY_VERSION:
        raise CorruptWeightsError(
            f"{path} is a CTranslate2 model of binary version {version}; this reader reads version "
            f"{BINARY_VERSION} (ctranslate2 >= 3 writes it): convert the model again with a current ctranslate2"
        )
    model = CTranslate2Model(reader.string("the spec name"), reader.unpack("<I", "the spec revision"))
    for index in range(reader.unpack("<I", "the number of variables")):
        name = reader.string(f"the name of variable {index}")
        rank = reader.unpack("<B", f"the rank of {name!r}")
        shape = [reader.unpack("<I", f"dimension {d} of {name!r}") for d in range(rank)]
        type_id = reader.unpack("<B", f"the dtype of {name!r}")
        if type_id >= len(DTYPE_NAMES):
            raise reader.fail(f"variable {name!r} has dtype id {type_id}, not one of 0..{len(DTYPE_NAMES) - 1}")
        dtype = _torch_dtype(type_id)
        nbytes = reader.unpack("<I", f"the byte count of {name!r}")
        count = 1
        for dim in shape:
            count *= dim
        if nbytes != count * dtype.itemsize:
            raise reader.fail(f"variable {name!r} of shape {shape} in {DTYPE_NAMES[type_id]} declares {nbytes} bytes")
        if name in model.variables:
            raise reader.fail(f"variable {name!r} appears twice")
        start = reader.take(nbytes, f"the values of {name!r}")
        tensor = (
            torch.frombuffer(data, dtype=dtype, count=count, offset=start) if count else torch.empty(0, dtype=dtype)
        )
        if start % dtype.itemsize:
            tensor = tensor.clone()
        model.variables[name] = tensor.reshape(shape)
    for index in range(reader.unpack("<I", "the number of aliases")):
        alias = reader.string(f"alias {index}")
        target = reader.string(f"the target of alias {alias!r}")
        if target not in model.variables or alias in model.variables or alias in model.aliases:
            raise reader.fail(f"alias {alias!r} -> {target!r} names no variable, or shadows one")
        model.aliases[alias] = target
    if reader.pos != len(data):
        raise reader.fail(f"{len(data) - reader.pos} bytes follow the last alias")
    return model


def model_bin_bytes(model: CTranslate2Model) -> bytes:
    """``model`` in the ``model.bin`` format, variables in name order, as ctranslate2 writes it."""
    import torch

    def string(text: str) -> bytes:
        raw = text.encode("utf-8")
        return struct.pack("<H", len(raw) + 1) + raw + b"\0"

    parts = [struct.pack("<I", BINARY_VERSION), string(model.spec), struct.pack("<I", model.revision)]
    parts.append(struct.pack("<I", len(model.variables)))
    for name in sorted(model.variables):
        tensor = model.variables[name].detach().cpu().contiguous()
        type_name = str(tensor.dtype).removeprefix("torch.")
        if type_name not in DTYPE_NAMES:
            raise TypeError(
                f"CTranslate2 variable {name!r} is {tensor.dtype}; the format holds {', '.join(DTYPE_NAMES)}"
            )
        raw = tensor.reshape(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b""
        parts += [string(name), struct.pack("<B", tensor.dim())]
        parts += [struct.pack("<I", dim) for dim in tensor.shape]
        parts += [struct.pack("<B", DTYPE_NAMES.index(type_name)), struct.pack("<I", len(raw)), raw]
    parts.append(struct.pack("<I", len(model.aliases)))
    for alias in sorted(model.aliases):
        parts += [string(alias), string(model.aliases[alias])]
    return b"".join(parts)


def write_model_bin(model: CTranslate2Model, path: str | Path) -> Path:
    """Write ``model`` as a ``model.bin`` at ``path``, atomically (:func:`.files.atomic_write`)."""
    from .files import atomic_write

    data = model_bin_bytes(model)
    return atomic_write(Path(path), lambda tmp: Path(tmp).write_bytes(data))


# ---- the Whisper layout ----------------------------------------------------------------------------

WHISPER_SPEC = "WhisperSpec"
WHISPER_SPEC_REVISION = 3
#: ctranslate2's ``common_spec.Activation.GELU``
_GELU = 3


def _whisper_pairs(encoder_layers: int, decoder_layers: int) -> tuple[list[tuple[str, str]], list[tuple[str, list]]]:
    """(CTranslate2 name, transformers name) of every tensor that maps one to one, and (fused
    CTranslate2 Linear, its transformers parts) of the fused attention projections."""
    pairs: list[tuple[str, str]] = []
    fused: list[tuple[str, list]] = []

    def linear(ct2: str, hf: str, bias: bool = True) -> None:
        pairs.append((f"{ct2}/weight", f"{hf}.weight"))
        if bias:
            pairs.append((f"{ct2}/bias", f"{hf}.bias"))

    def norm(ct2: str, hf: str) -> None:
        pairs.extend([(f"{ct2}/gamma", f"{hf}.weight"), (f"{ct2}/beta", f"{hf}.bias")])

    for stack, n in (("encoder", encoder_layers), ("decoder", decoder_layers)):
        for i in range(n):
            ct2, hf = f"{stack}/layer_{i}", f"model.{stack}.layers.{i}"
            norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
            fused.append((f"{ct2}/self_attention/linear_0", [f"{hf}.self_attn.{p}_proj" for p in "qkv"]))
            linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj")
            if stack == "decoder":
                norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
                linear(f"{ct2}/attention/linear_0", f"{hf}.encoder_attn.q_proj")
                fused.append((f"{ct2}/attention/linear_1", [f"{hf}.encoder_attn.{p}_proj" for p in "kv"]))
                linear(f"{ct2}/attention/linear_2", f"{hf}.encoder_attn.out_proj")
            norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
            linear(f"{ct2}/ffn/linear_0", f"{hf}.fc1")
            linear(f"{ct2}/ffn/linear_1", f"{hf}.fc2")
        norm(f"{stack}/layer_norm", f"model.{stack}.layer_norm")
        pairs.append((f"{stack}/position_encodings/encodings", f"model.{stack}.embed_positions.weight"))
    for conv in ("conv1", "conv2"):
        linear(f"encoder/{conv}", f"model.encoder.{conv}")
    pairs.append(("decoder/embeddings/weight", "model.decoder.embed_tokens.weight"))
    return pairs, fused


def _whisper_scalars(config: Any) -> dict[str, tuple[str, int]]:
    """The rank-0 variables of a ``WhisperSpec``: name -> (dtype, value). ``num_heads`` and the
    decoder flags shape the computation; the alignment ones (for word timestamps) are the spec's
    defaults."""
    return {
        "decoder/activation": ("int8", _GELU),
        "decoder/alibi": ("int8", 0),
        "decoder/alignment_heads": ("int16", 1),
        "decoder/alignment_layer": ("int16", -1),
        "decoder/num_heads": ("int16", config.decoder_attention_heads),
        "decoder/pre_norm": ("int8", 1),
        "decoder/scale_embeddings": ("int8", int(bool(config.scale_embedding))),
        "decoder/start_from_zero_embedding": ("int8", 0),
        "encoder/num_heads": ("int16", config.encoder_attention_heads),
    }


_SHAPING_SCALARS = (
    "decoder/activation",
    "decoder/alibi",
    "decoder/num_heads",
    "decoder/pre_norm",
    "decoder/scale_embeddings",
    "decoder/start_from_zero_embedding",
    "encoder/num_heads",
)


def _layer_count(names: Any, stack: str) -> int:
    pattern = re.compile(rf"^{stack}/layer_(\d+)/")
    found = {int(m.group(1)) for m in map(pattern.match, names) if m}
    if found != set(range(len(found))):
        raise CorruptWeightsError(
            f"the {stack} layers of the CTranslate2 model are not numbered 0..n-1: {sorted(found)}"
        )
    return len(found)


def whisper_from_ct2(model: CTranslate2Model, config: Any) -> dict[str, "torch.Tensor"]:
    """The ``WhisperForConditionalGeneration`` state dict of a CTranslate2 ``WhisperSpec`` model,
    every layer it holds (cut or check against a model yourself). ``config`` (a transformers
    ``WhisperConfig``) supplies the width and head counts the file's scalars must match.

    The fused Q/K/V and K/V Linears are split in ``d_model`` rows each and the K bias dropped, the
    layer norms renamed; the output projection (an alias of the token embedding) is the tied
    ``proj_out``, so it is not a key of its own, as in transformers' own state dict.
    """
    if model.spec != WHISPER_SPEC:
        raise CorruptWeightsError(f"the CTranslate2 model is a {model.spec}, not a {WHISPER_SPEC}")
    if model.revision != WHISPER_SPEC_REVISION:
        raise CorruptWeightsError(
            f"the CTranslate2 {WHISPER_SPEC} has revision {model.revision}; this converter reads revision "
            f"{WHISPER_SPEC_REVISION}"
        )
    expected = _whisper_scalars(config)
    wrong = [
        f"{name} {model.scalar(name)} (variant: {expected[name][1]})"
        for name in _SHAPING_SCALARS
        if model.scalar(name) != expected[name][1]
    ]
    if wrong:
        raise CorruptWeightsError(f"the CTranslate2 Whisper model is not this architecture: {'; '.join(wrong)}")
    names = list(model.variables) + list(model.aliases)
    pairs, fused = _whisper_pairs(_layer_count(names, "encoder"), _layer_count(names, "decoder"))
    state = {hf: model.get(ct2) for ct2, hf in pairs}
    width = config.d_model
    for ct2, parts in fused:
        weight, bias = model.get(f"{ct2}/weight"), model.get(f"{ct2}/bias")
        if weight.shape[0] != width * len(parts) or bias.shape != (width * len(parts),):
            raise CorruptWeightsError(
                f"CTranslate2 {ct2} has shape {list(weight.shape)} and bias {list(bias.shape)}; "
                f"{len(parts)} projections of width {width} need {width * len(parts)} rows"
            )
        for i, part in enumerate(parts):
            state[f"{part}.weight"] = weight[i * width : (i + 1) * width]
            if not part.endswith("k_proj"):  # Whisper's K projections have no bias
                state[f"{part}.bias"] = bias[i * width : (i + 1) * width]
    projection = model.get("decoder/projection/weight")
    embeddings = state["model.decoder.embed_tokens.weight"]
    if projection is not embeddings and not _equal(projection, embeddings):
        raise CorruptWeightsError(
            "the CTranslate2 Whisper model's output projection differs from its token embedding; "
            "WhisperForConditionalGeneration ties them"
        )
    if "decoder/projection/bias" in model.variables and bool(model.get("decoder/projection/bias").any()):
        raise CorruptWeightsError("the CTranslate2 Whisper model's output projection has a bias; Whisper's has none")
    return state


def whisper_to_ct2(state: Mapping[str, "torch.Tensor"], config: Any) -> CTranslate2Model:
    """The CTranslate2 ``WhisperSpec`` layout of a ``WhisperForConditionalGeneration`` state dict
    (as ``whisper_from_ct2`` reads it): fused Q/K/V and K/V Linears with zeros for the K bias, the
    output projection an alias of the token embedding, and the spec's scalars. Tensors keep their
    dtype (ctranslate2's converter writes float16 with ``--quantization float16``)."""
    import torch

    encoder_layers, decoder_layers = config.encoder_layers, config.decoder_layers
    pairs, fused = _whisper_pairs(encoder_layers, decoder_layers)
    model = CTranslate2Model(
        WHISPER_SPEC, WHISPER_SPEC_REVISION, aliases={"decoder/projection/weight": "decoder/embeddings/weight"}
    )
    for ct2, hf in pairs:
        model.variables[ct2] = state[hf].detach()
    for ct2, parts in fused:
        weights = [state[f"{p}.weight"].detach() for p in parts]
        model.variables[f"{ct2}/weight"] = torch.cat(weights)
        model.variables[f"{ct2}/bias"] = torch.cat(
            [
                torch.zeros(w.shape[0], dtype=w.dtype) if p.endswith("k_proj") else state[f"{p}.bias"].detach()
                for p, w in zip(parts, weights)
            ]
        )
    for name, (dtype, value) in _whisper_scalars(config).items():
        model.variables[name] = torch.tensor(value, dtype=getattr(torch, dtype))
    return model


def _equal(a: "torch.Tensor", b: "torch.Tensor") -> bool:
    import torch

    return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)


#: spec name -> the converter from that layout to the transformers state dict
CONVERTERS: dict[str, Callable[[CTranslate2Model, Any], dict[str, "torch.Tensor"]]] = {WHISPER_SPEC: whisper_from_ct2}


# ---- a mirror that holds a CTranslate2 model ---------------------------------------------------------


class CTranslate2MirrorSource(HuggingFaceSource):
    """A Hugging Face variant whose installed mirror holds the same weights as a CTranslate2 model
    (``model.bin``). The hub cache is read first, as for any Hugging Face row; on a miss the
    mirror's files are checked against the table's sha256, its variables converted to the
    transformers layout (:data:`CONVERTERS`, chosen by spec name) and assigned onto the model built
    on meta from the shipped config, cast once to the requested dtype (float32 by default). A file
    of another architecture (depth, widths, heads) is a CorruptWeightsError saying what differs."""

    MODEL_FILE = "model.bin"

    def _mirror_has_weights(self, folder: Path) -> bool:
        return (Path(folder) / self.MODEL_FILE).is_file()

    def _load_mirror(self, folder: Path, *, config: Any, dtype: Any, num_layers: Any, overrides: dict[str, Any]) -> Any:
        import torch

        from .files import check_state_dict_keys
        from .hf_folder import beyond_the_cut
        from .materialize import assign_state_dict_, construct_on_meta

        path = Path(folder) / self.MODEL_FILE
        ct2 = read_model_bin(path)
        convert = CONVERTERS.get(ct2.spec)
        if convert is None:
            raise CorruptWeightsError(
                f"{path} holds a CTranslate2 {ct2.spec}; converters exist for {', '.join(sorted(CONVERTERS))}"
            )
        try:
            state = convert(ct2, config)
        except CorruptWeightsError as err:
            raise CorruptWeightsError(f"{path}: {err} ({self.describe()})") from err
        model = construct_on_meta(self._constructor(config), buffers_on_meta=False)
        expected = set(model.state_dict(keep_vars=True))
        extra = set(state) - expected
        if extra and num_layers is not None and beyond_the_cut(extra, expected, num_layers):
            state = {key: tensor for key, tensor in state.items() if key in expected}
        check_state_dict_keys(model, state, origin=f"{path} ({self.describe()}, converted)")
        assign_state_dict_(model, state, dtype=dtype or torch.float32)
        model.config._name_or_path = str(folder)
        if dtype is not None:
            model.config.dtype = dtype
        return model


__all__ = [
    "BINARY_VERSION",
    "CONVERTERS",
    "CTranslate2MirrorSource",
    "CTranslate2Model",
    "DTYPE_NAMES",
    "WHISPER_SPEC",
    "model_bin_bytes",
    "read_model_bin",
    "whisper_from_ct2",
    "whisper_to_ct2",
    "write_model_bin",
]
