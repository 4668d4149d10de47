"""Enums and the declarative records every loader is built from.

Only the standard library is imported here: listing every variant of every loader must not pay for
torch or any model library.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Mapping


class StrEnum(str, enum.Enum):
    """An enum whose members are strings: they compare equal to, and serialize as, their values."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class ModelGroup(StrEnum):
    RED = "red"
    PRIORITY = "priority"
    GENERALITY = "generality"


class ModelTask(StrEnum):
    NLP_QA = "nlp_qa"
    NLP_CAUSAL_LM = "nlp_causal_lm"
    NLP_MASKED_LM = "nlp_masked_lm"
    NLP_TEXT_CLS = "nlp_text_cls"
    NLP_TOKEN_CLS = "nlp_token_cls"
    NLP_EMBED_GEN = "nlp_embed_gen"
    NLP_SUMMARIZATION = "nlp_summarization"
    NLP_TRANSLATION = "nlp_translation"
    CV_IMAGE_CLS = "cv_image_cls"
    CV_OBJECT_DET = "cv_object_det"
    CV_IMAGE_SEG = "cv_image_seg"
    CV_DEPTH_EST = "cv_depth_est"
    AUDIO_ASR = "audio_asr"
    AUDIO_CLS = "audio_cls"
    MM_IMAGE_TEXT = "mm_image_text"


class ModelSource(StrEnum):
    HUGGING_FACE = "huggingface"
    TORCHVISION = "torchvision"
    TIMM = "timm"
    CUSTOM = "custom"
    TORCH_HUB = "torch_hub"
    GITHUB = "github"


class Framework(StrEnum):
    TORCH = "pytorch"
    JAX = "jax"
    ONNX = "onnx"


class Parallelism(StrEnum):
    SINGLE_DEVICE = "single_device"
    DATA_PARALLEL = "data_parallel"
    TENSOR_PARALLEL = "tensor_parallel"


@dataclass(frozen=True)
class ModelConfig:
    """One row of a loader's variant table. Code reads these fields; it never parses variant names.

    pretrained_model_name: the hub id (``microsoft/resnet-50``), torchvision builder (``resnet50``)
        or timm architecture (``resnet50``) the variant is built from.
    revision: the pinned hub commit for Hugging Face and timm weights.
    weights_tag: the torchvision weights enum member (``IMAGENET1K_V2``) or timm pretrained tag.
    weights_url / weights_sha256: files we fetch and convert ourselves (Darknet).
    config_file: an architecture config shipped beside the loader (relative to the loader's
        folder), so ``weights="random"`` needs no hub.
    model_class: the transformers class that builds a Hugging Face variant (the task head).
    num_params: the expected parameter count of the full model; a test builds every variant on the
        meta device and checks it.
    input_size: (channels, height, width) of one image for vision models.
    test_num_layers: the depth the default test suite runs at when the full model is too slow for
        CI; ``None`` means full size.
    test_num_params: the parameter count of that reduced test build (checked on the meta device
        like ``num_params``). Test suites decide the ``large`` mark on it, so a variant whose cut
        build is still too big for CI (a 1-layer 70B keeps 2 G parameters of embeddings) is
        deselected by default while its small siblings still run; ``None`` means ``num_params``.
    test_input_size: the input size the default test suite's forward passes use when the
        variant's own is too slow for CI (its loader's ``load_inputs`` takes ``input_size=``);
        ``None`` means the variant's own.
    mirror_packages: folders of installed Python packages (``"<package>/<folder>"``) that hold an
        identical snapshot of the pretrained repository (weights, config, tokenizer); read when
        the framework's own cache misses, before any download.

    What a frontend may expect of the variant (checked by the suite on a reduced instance):

    bf16_pcc: the Pearson correlation a bf16 run reaches against fp32 with the same weights.
    export_unsupported: why ``torch.export.export`` cannot capture the model; ``None`` means it can.
    quirks: known behaviours worth knowing before compiling it.
    """

    pretrained_model_name: str
    source: ModelSource
    task: ModelTask
    group: ModelGroup = ModelGroup.GENERALITY
    revision: str | None = None
    weights_tag: str | None = None
    weights_url: str | None = None
    weights_sha256: str | None = None
    config_file: str | None = None
    model_class: str | None = None
    num_params: int | None = None
    input_size: tuple[int, int, int] | None = None
    test_num_layers: int | None = None
    test_num_params: int | None = None
    test_input_size: tuple[int, int, int] | None = None
    mirror_packages: tuple[str, ...] = ()
    bf16_pcc: float = 0.99
    export_unsupported: str | None = None
    quirks: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (enums as strings, tuples as lists)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = str(value) if isinstance(value, enum.Enum) else value
        return out


@dataclass(frozen=True)
class LLMModelConfig(ModelConfig):
    """Causal and masked language models: sequence settings on top of the common fields."""

    max_length: int = 128
    max_new_tokens: int = 16
    prompt: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What a test report or dashboard needs to know about one variant."""

    model: str
    variant: str
    group: ModelGroup
    task: ModelTask
    source: ModelSource
    framework: Framework = Framework.TORCH

    @property
    def name(self) -> str:
        return f"{self.framework}_{self.model}_{self.variant}_{self.task}_{self.source}"

    def to_report_dict(self) -> dict[str, str]:
        report = {key: str(value) for key, value in asdict(self).items()}
        report["name"] = self.name
        return report
