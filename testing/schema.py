"""Schema validation of variant rows, beyond what each record checks of its own fields.

A record's ``__post_init__`` checks types and formats; :func:`row_problems` checks a whole row
against what its source and its task read: the fields a source needs are present and none that it
ignores are set, the shipped config exists and has the depth field the test spec cuts, the input
spec carries exactly what the task base reads, and the counts are consistent. Like torchvision's
``test_schema_meta_validation``, ``tests/test_schema.py`` runs it on every row of every loader.

Only the standard library is imported here (and this package's stdlib-only modules).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..config import DiffusersWeights, HubWeights, ModelConfig, ModelTask, TorchvisionWeights, UrlWeights
from ..rows import WEIGHTS_RECORDS, InputSpec
from ..weights.depth import depth, lookup

#: Tasks whose inputs are images: only ``image_size`` is read.
IMAGE_TASKS = frozenset(t for t in ModelTask if str(t).startswith("cv_"))
#: Text encoders (:mod:`..tasks.text_encoding`): the sample text of a language, cut to a length.
TEXT_ENCODER_TASKS = frozenset(
    {
        ModelTask.NLP_QA,
        ModelTask.NLP_MASKED_LM,
        ModelTask.NLP_TEXT_CLS,
        ModelTask.NLP_TOKEN_CLS,
        ModelTask.NLP_EMBED_GEN,
    }
)

#: Text-to-text generation (:mod:`..tasks.text_to_text`, encoder-decoders): a prompt, cut to a
#: length, and the tokens generated after it.
TEXT_TO_TEXT_TASKS = frozenset({ModelTask.NLP_TRANSLATION, ModelTask.NLP_SUMMARIZATION})

#: Diffusion components (:mod:`..tasks.diffusion`), by task: whether the row reads a text length (a
#: denoiser's text embeddings), and the shipped config's field its latent channels must equal.
DIFFUSION_TASKS = {
    ModelTask.CONDITIONAL_GENERATION: (True, "in_channels"),  # the denoiser (UNet)
    ModelTask.CV_IMG_TO_IMG: (False, "latent_channels"),  # the VAE decoder: latents to an image
}

#: The input-spec fields each kind of task base reads; the rest must stay unset. ``required`` of
#: them must be set.
_READS = {
    "diffusion": ({"latent_size", "max_length"}, {"latent_size"}),
    "image": ({"image_size"}, {"image_size"}),
    "causal_lm": ({"max_length", "max_new_tokens", "prompt"}, {"max_length", "max_new_tokens", "prompt"}),
    "text_to_text": ({"max_length", "max_new_tokens", "prompt"}, {"max_length", "max_new_tokens", "prompt"}),
    "text_encoder": (
        {"max_length", "language", "special_ids", "vocab_sha256", "tokenizer_fallbacks"},
        {"max_length", "language", "special_ids"},
    ),
    # :mod:`..tasks.zero_shot_classification`: an image, and label prompts padded to a length
    "zero_shot_image": ({"image_size", "max_length", "special_ids"}, {"image_size", "max_length", "special_ids"}),
    "speech_recognition": ({"max_new_tokens"}, {"max_new_tokens"}),
}
#: the special ids a kind's synthetic text needs
_SPECIAL_IDS = {"text_encoder": {"pad", "unk", "cls", "sep", "mask"}, "zero_shot_image": {"bos", "eos", "pad"}}
#: the files a speech-recognition row ships beside its config (``configs/<org>-<name>.<kind>.json``)
_ASR_FILES = ("preprocessor", "generation")
_UNSET = InputSpec()


def task_kind(task: ModelTask, weights: Any = None) -> str | None:
    """Which task base's inputs a row of ``task`` (with ``weights``) describes; ``None`` for a task
    with none here. A diffusers component's is the diffusion base's, whatever its task."""
    if isinstance(weights, DiffusersWeights):
        return "diffusion" if task in DIFFUSION_TASKS else None
    if task == ModelTask.CV_ZS_IMAGE_CLS:
        return "zero_shot_image"
    if task in IMAGE_TASKS:
        return "image"
    if task == ModelTask.NLP_CAUSAL_LM:
        return "causal_lm"
    if task in TEXT_ENCODER_TASKS:
        return "text_encoder"
    if task == ModelTask.AUDIO_ASR:
        return "speech_recognition"
    if task in TEXT_TO_TEXT_TASKS:
        return "text_to_text"
    return None


def row_problems(config: Any, loader_dir: Path | None = None) -> list[str]:
    """Every way ``config`` breaks the schema, as sentences naming the field; ``[]`` when it is
    sound. ``loader_dir`` (the loader's folder) lets shipped config files be checked."""
    if not isinstance(config, ModelConfig):
        return [f"a row must be a ModelConfig, got {type(config).__name__}"]
    problems: list[str] = []
    weights = config.weights
    if not isinstance(weights, WEIGHTS_RECORDS):
        return [f"weights must be one of {', '.join(r.__name__ for r in WEIGHTS_RECORDS)}"]
    problems += _weights_problems(weights, loader_dir)
    problems += _input_problems(config, loader_dir)
    if task_kind(config.task) == "zero_shot_image" and isinstance(weights, HubWeights) and loader_dir is not None:
        problems += _zero_shot_problems(config, _shipped_config(weights, loader_dir) or {})
    if task_kind(config.task) == "speech_recognition" and isinstance(weights, HubWeights) and loader_dir is not None:
        config_file = Path(loader_dir) / weights.config_file
        for kind in _ASR_FILES:
            if not config_file.with_name(f"{config_file.stem}.{kind}.json").is_file():
                problems.append(
                    f"a speech-recognition row ships configs/<org>-<name>.{kind}.json; {config_file.stem} has none"
                )
    problems += _test_problems(config, _depth(weights, loader_dir), loader_dir)
    return problems


def _weights_problems(weights: Any, loader_dir: Path | None) -> list[str]:
    # Revisions and sha256 pins are checked by the records themselves when they are built (a
    # frozen record cannot hold a bad one); what is left here needs the source's view of a row.
    out = []
    if isinstance(weights, UrlWeights):
        if not weights.url.startswith("https://"):
            out.append(f"weights.url must be https://, got {weights.url!r}")
        if not weights.url.endswith(".weights"):
            out.append(f"weights.url must name a Darknet .weights file, got {weights.url!r}")
    if isinstance(weights, TorchvisionWeights) and not weights.tag.isupper():
        out.append(f"weights.tag must name a torchvision weights enum member (IMAGENET1K_V2), got {weights.tag!r}")
    if isinstance(weights, DiffusersWeights):
        if not weights.model_class.isidentifier():
            out.append(f"weights.model_class must be a diffusers class name, got {weights.model_class!r}")
        if loader_dir is not None:
            shipped = _shipped_config(weights, loader_dir)
            if shipped is None:
                out.append(f"weights.config_file {weights.config_file!r} is not a JSON file beside the loader")
            elif shipped.get("_class_name") != weights.model_class:
                out.append(
                    f"weights.config_file {weights.config_file!r} is a {shipped.get('_class_name')!r} config, "
                    f"not {weights.model_class!r}"
                )
    if isinstance(weights, HubWeights):
        if not weights.model_class.isidentifier():
            out.append(f"weights.model_class must be a transformers class name, got {weights.model_class!r}")
        for folder in weights.mirror_packages:
            if folder.count("/") < 1 or not folder.split("/", 1)[0].isidentifier():
                out.append(f"weights.mirror_packages entries are '<package>/<folder>', got {folder!r}")
        data = None if loader_dir is None else _shipped_config(weights, loader_dir)
        if loader_dir is not None and data is None:
            out.append(f"weights.config_file {weights.config_file!r} is not a JSON file beside the loader")
        for path in weights.layer_index_keys if data is not None else ():
            found, indices = lookup(data, path)
            if not found or not isinstance(indices, list) or not all(type(i) is int for i in indices):
                out.append(f"weights.layer_index_keys names {path!r}, which is no list of layer indices in the config")
    return out


def _input_problems(config: ModelConfig, loader_dir: Path | None) -> list[str]:
    kind = task_kind(config.task, config.weights)
    if kind is None:
        return [f"task {config.task} has no task base here that reads an input spec"]
    reads, required = _READS[kind]
    spec, out = config.inputs, []
    for name in sorted(required):
        if getattr(spec, name) in (None, ()):
            out.append(f"inputs.{name} is required for a {kind} row")
    for name in sorted(set(InputSpec.__dataclass_fields__) - reads):
        if getattr(spec, name) != getattr(_UNSET, name):
            out.append(f"inputs.{name} is set but a {kind} row never reads it")
    if kind == "diffusion":
        out += _diffusion_problems(config, loader_dir)
    if spec.image_size is not None and spec.image_size[0] != 3:
        out.append(f"inputs.image_size must be (3, height, width), got {spec.image_size}")
    names = _SPECIAL_IDS.get(kind)
    if spec.special_ids is not None and names is not None and set(spec.special_ids) != names:
        out.append(f"inputs.special_ids must name exactly {sorted(names)}, got {sorted(spec.special_ids)}")
    if kind == "text_encoder" and spec.language is not None:
        from ..tasks.text_encoding import SAMPLES

        if (config.task, spec.language) not in SAMPLES:
            out.append(f"inputs.language {spec.language!r} has no sample text for {config.task}")
    return out


def _zero_shot_problems(config: ModelConfig, shipped: dict[str, Any]) -> list[str]:
    """An image-text row against its shipped config: the image size the vision tower was built
    for, prompts no longer than its text positions, special ids inside its vocabulary."""
    vision, text, spec, out = shipped.get("vision_config") or {}, shipped.get("text_config") or {}, config.inputs, []
    if spec.image_size is not None and vision.get("image_size") not in (None, spec.image_size[1]):
        out.append(f"inputs.image_size {spec.image_size} is not the vision config's {vision['image_size']}")
    positions = text.get("max_position_embeddings")
    if spec.max_length is not None and positions is not None and spec.max_length > positions:
        out.append(f"inputs.max_length ({spec.max_length}) exceeds the text config's {positions} positions")
    vocab = text.get("vocab_size")
    if vocab is not None and any(not 0 <= i < vocab for i in (spec.special_ids or {}).values()):
        out.append(f"inputs.special_ids {dict(spec.special_ids)} must lie inside the vocabulary of {vocab}")
    return out


def _diffusion_problems(config: ModelConfig, loader_dir: Path | None) -> list[str]:
    """A denoiser reads a text length and a decoder none; the latent channels are the model's."""
    reads_text, channels_key = DIFFUSION_TASKS[config.task]
    spec, out = config.inputs, []
    if reads_text and spec.max_length is None:
        out.append(f"inputs.max_length (the text length) is required for a {config.task} diffusion row")
    if not reads_text and spec.max_length is not None:
        out.append(f"inputs.max_length is set but a {config.task} diffusion row reads no text")
    shipped = _shipped_config(config.weights, loader_dir) if loader_dir is not None else None
    if shipped is not None and spec.latent_size is not None and shipped.get(channels_key) != spec.latent_size[0]:
        out.append(
            f"inputs.latent_size {spec.latent_size} must have the config's {channels_key} "
            f"({shipped.get(channels_key)}) channels"
        )
    return out


def _test_problems(config: ModelConfig, depth: int | None, loader_dir: Path | None = None) -> list[str]:
    test, out = config.test, []
    if test.num_layers is not None:
        if depth is None:
            out.append(
                f"test.num_layers is set but {type(config.weights).__name__} rows of this config cut no "
                "depth (num_layers= is for Hugging Face rows whose shipped config has the layers_key fields)"
            )
        elif test.num_layers >= depth:
            out.append(f"test.num_layers ({test.num_layers}) must be below the full depth ({depth})")
    if test.overrides:
        if not isinstance(config.weights, (HubWeights, DiffusersWeights)):
            out.append(
                f"test.overrides is set but {type(config.weights).__name__} rows take no config keywords "
                "(they are for Hugging Face and diffusers rows, whose architecture is a shipped config)"
            )
        elif loader_dir is not None:
            shipped = _shipped_config(config.weights, loader_dir) or {}
            unknown = sorted(set(test.overrides) - set(shipped))
            if unknown:
                out.append(
                    f"test.overrides {unknown} are not fields of the shipped config {config.weights.config_file}"
                )
    if test.num_params is not None:
        if test.num_layers is None and not test.overrides:
            out.append(
                "test.num_params is the size of the reduced build, but test.num_layers is not set (nor test.overrides)"
            )
        if test.num_params >= config.num_params:
            out.append(f"test.num_params ({test.num_params:,}) must be below num_params ({config.num_params:,})")
    if test.input_size is not None:
        name = "latent_size" if config.inputs.latent_size is not None else "image_size"
        own = getattr(config.inputs, name)
        if own is None:
            out.append("test.input_size is set but the row has no inputs.image_size (or latent_size) to reduce")
        elif test.input_size[0] != own[0] or not all(t < o for t, o in zip(test.input_size[1:], own[1:])):
            out.append(f"test.input_size {test.input_size} must be smaller than inputs.{name} {own}")
    return out


def _depth(weights: Any, loader_dir: Path | None) -> int | None:
    """The depth ``num_layers=`` cuts: for hub rows the shallowest of the shipped config's
    ``layers_key`` fields (dotted paths into sub-configs), else None (also where one is missing)."""
    if not isinstance(weights, HubWeights) or loader_dir is None:
        return None
    data = _shipped_config(weights, loader_dir)
    try:
        return None if data is None else depth(data, weights.layers_key, where=str(weights.config_file))
    except (TypeError, ValueError):
        return None


def _shipped_config(weights: HubWeights | DiffusersWeights, loader_dir: Path) -> dict[str, Any] | None:
    path = Path(loader_dir) / weights.config_file
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["DIFFUSION_TASKS", "IMAGE_TASKS", "TEXT_ENCODER_TASKS", "TEXT_TO_TEXT_TASKS", "row_problems", "task_kind"]
