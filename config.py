"""Enums and the declarative records every loader is built from.

Only the standard library is imported here: listing every variant of every loader must not pay for
torch or any model library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, fields
from typing import Any, Mapping


class StrEnum(str, enum.Enum):
    """An enum whose members are strings: they compare equal to, and serialize as, their values."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


# Every member of the upstream zoo's enums (tenstorrent/tt-forge-models config.py) exists here with
# the same value, because its consumers reach them by name (tt-xla's conftest reads
# ModelGroup.VULCAN). Members after a "ours" comment are extras of this zoo.


class ModelGroup(StrEnum):
    GENERALITY = "generality"
    RED = "red"
    PRIORITY = "priority"
    VULCAN = "vulcan"


class ModelTask(StrEnum):
    NLP_TEXT_CLS = "nlp_text_cls"
    NLP_TOKEN_CLS = "nlp_token_cls"
    NLP_EMBED_GEN = "nlp_embed_gen"
    NLP_QA = "nlp_qa"
    NLP_CAUSAL_LM = "nlp_causal_lm"
    NLP_MASKED_LM = "nlp_masked_lm"
    NLP_TRANSLATION = "nlp_translation"
    NLP_SUMMARIZATION = "nlp_summarization"
    NLP_MULTI_CHOICE = "nlp_multi_choice"
    NLP_IMAGE_TO_TEXT = "nlp_image_to_text"
    AUDIO_CLS = "audio_cls"
    AUDIO_ASR = "audio_asr"
    CV_IMAGE_CLS = "cv_image_cls"
    CV_IMAGE_SEG = "cv_image_seg"
    CV_VIDEO_CLS = "cv_video_cls"
    CV_OBJECT_DET = "cv_object_det"
    CV_ZS_OBJECT_DET = "cv_zs_object_det"
    CV_ZS_IMAGE_CLS = "cv_zs_image_cls"
    CV_DEPTH_EST = "cv_depth_est"
    CV_IMG_TO_IMG = "cv_img_to_img"
    CV_IMAGE_FE = "cv_image_fe"
    CV_MASK_GEN = "cv_mask_gen"
    CV_KEYPOINT_DET = "cv_keypoint_det"
    CV_KNOW_DISTILL = "cv_know_distill"
    CV_PANOPTIC_SEG = "cv_panoptic_seg"
    CV_IMAGE_TO_TEXT = "cv_image_to_text"
    REALTIME_MAP_CONSTRUCTION = "realtime_map_construction"
    MM_IMAGE_CAPT = "mm_image_capt"
    MM_DOC_QA = "mm_doc_qa"
    MM_VISUAL_QA = "mm_visual_qa"
    MM_TTS = "mm_tts"
    MM_IMAGE_TTT = "mm_image_ttt"
    MM_VIDEO_TTT = "mm_video_ttt"
    MM_AUDIO_TTT = "mm_audio_ttt"
    MM_MASKED_LM = "mm_masked_lm"
    MM_CAUSAL_LM = "mm_causal_lm"
    MM_ACTION_PREDICTION = "mm_action_prediction"
    MM_CONDITIONAL_GENERATION = "mm_conditional_generation"
    MM_DOC_OCR = "mm_doc_ocr"
    MM_IMAGE_TEXT_SIM = "mm_image_text_similarity"
    CONDITIONAL_GENERATION = "conditional_generation"
    ATOMIC_ML = "atomic_ml"
    MULTIVIEW_3D_OBJECT_DET = "Multiview_3D_object_detection"
    # ours
    MM_IMAGE_TEXT = "mm_image_text"


class ModelSource(StrEnum):
    HUGGING_FACE = "huggingface"
    EASYDEL = "easydel"
    TORCH_HUB = "torch_hub"
    CUSTOM = "custom"
    TORCHVISION = "torchvision"
    TIMM = "timm"
    TORCH_XRAY_VISION = "torchxrayvision"
    OSMR = "osmr"
    GITHUB = "github"
    DETECTRON2 = "detectron2"


class Framework(StrEnum):
    JAX = "jax"
    TORCH = "pytorch"
    NUMPY = "numpy"
    ONNX = "onnx"
    PADDLE = "paddle"


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
    layers_key: the field of its shipped config that ``num_layers=`` cuts (GPT-2's ``n_layer``);
        ``None`` means ``num_hidden_layers``.
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
    layers_key: str | None = None
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

    @property
    def model_name_clean(self) -> str:
        """The name without its organisation prefix (``resnet-50`` of ``microsoft/resnet-50``), as
        upstream's reports key it."""
        return self.pretrained_model_name.rsplit("/", 1)[-1]

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
    """What a test report or dashboard needs to know about one variant.

    ``model_name_clean`` is the variant's model name without its organisation prefix; the loader
    fills it from the row (upstream's field of the same name).
    """

    model: str
    variant: str
    group: ModelGroup
    task: ModelTask
    source: ModelSource
    framework: Framework = Framework.TORCH
    model_name_clean: str | None = None

    @property
    def name(self) -> str:
        return f"{self.framework}_{self.model}_{self.variant}_{self.task}_{self.source}"

    def is_easydel(self) -> bool:
        return self.source == ModelSource.EASYDEL

    def to_report_dict(self) -> dict[str, str | None]:
        """Upstream's report keys (task, source, framework, model_arch, variant_name,
        model_name_clean), then ours (model, variant, group, name)."""
        return {
            "task": str(self.task),
            "source": str(self.source),
            "framework": str(self.framework),
            "model_arch": self.model,
            "variant_name": str(self.variant),
            "model_name_clean": self.model_name_clean,
            "model": self.model,
            "variant": str(self.variant),
            "group": str(self.group),
            "name": self.name,
        }
