"""Enums and the declarative records every loader is built from.

Only the standard library (and :mod:`.rows`, the typed parts of a row, re-exported here) is
imported: listing every variant of every loader must not pay for torch or any model library.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from .rows import (
    DiffusersWeights,
    HubWeights,
    InputSpec,
    TestSpec,
    TimmWeights,
    TorchvisionWeights,
    UrlWeights,
    Weights,
    check_fields,
    plain,
)


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


#: The source each kind of weights record means (``ModelInfo.source``, ``list --source``).
_SOURCE_OF_WEIGHTS = {
    HubWeights: ModelSource.HUGGING_FACE,
    TorchvisionWeights: ModelSource.TORCHVISION,
    TimmWeights: ModelSource.TIMM,
    UrlWeights: ModelSource.CUSTOM,
    DiffusersWeights: ModelSource.HUGGING_FACE,  # a diffusers model is a Hugging Face hub repository's
}


@dataclass(frozen=True)
class ModelConfig:
    """One row of a loader's variant table. Code reads these fields; it never parses variant names.

    weights: where the variant's weights come from, one record per source (:mod:`.rows`):
        :class:`HubWeights`, :class:`TorchvisionWeights`, :class:`TimmWeights`,
        :class:`UrlWeights` or :class:`DiffusersWeights`. ``source`` is derived from its type, so a
        row cannot say one source and carry another's fields.
    task, group: what the variant does and which dashboard group it reports to.
    num_params: the expected parameter count of the full model; a test builds every variant on the
        meta device and checks it.
    inputs: what the task base reads to build the sample inputs (:class:`InputSpec`).
    test: what the default test suite runs and what a frontend may expect (:class:`TestSpec`).

    Every field is checked when the row is constructed (a TypeError or ValueError naming it), so a
    bad table fails when its loader is imported; ``tests/test_schema.py`` checks each row against
    what its source and task read.
    """

    weights: Weights
    task: ModelTask
    num_params: int
    group: ModelGroup = ModelGroup.GENERALITY
    inputs: InputSpec = InputSpec()
    test: TestSpec = TestSpec()

    def __post_init__(self) -> None:
        check_fields(self)
        if self.num_params <= 0:
            raise ValueError(f"{type(self).__name__}.num_params must be > 0, got {self.num_params}")

    @property
    def source(self) -> ModelSource:
        return _SOURCE_OF_WEIGHTS[type(self.weights)]

    @property
    def pretrained_model_name(self) -> str:
        """What the variant is built from: the hub id (``microsoft/resnet-50``), torchvision
        builder or timm architecture (``resnet50``), or Darknet network (``yolov4``). Upstream's
        field; its consumers read it."""
        return self.weights.pretrained_model_name

    @property
    def model_name_clean(self) -> str:
        """The name without its organisation prefix (``resnet-50`` of ``microsoft/resnet-50``), as
        upstream's reports key it."""
        return self.pretrained_model_name.rsplit("/", 1)[-1]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values: the derived source and name first, then every field, records
        as dicts (the weights record with its ``kind``)."""
        return {"source": str(self.source), "pretrained_model_name": self.pretrained_model_name, **plain(self)}


@dataclass(frozen=True)
class LLMModelConfig(ModelConfig):
    """Language models (upstream's name): ``inputs.max_length`` is required, and causal LMs may
    ask for a 2-D mesh.

    mesh_batch_rows / mesh_batch_rows_from: from ``mesh_batch_rows_from`` devices up, the mesh
    has ``mesh_batch_rows`` rows of data parallel, tensor parallel along each (the 70B Llamas).
    """

    mesh_batch_rows: int = 1
    mesh_batch_rows_from: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.inputs.max_length is None:
            raise ValueError(f"{type(self).__name__}.inputs.max_length is required for a language model")
        if self.mesh_batch_rows < 1 or (self.mesh_batch_rows_from is not None and self.mesh_batch_rows_from < 1):
            raise ValueError(
                f"{type(self).__name__}.mesh_batch_rows and mesh_batch_rows_from must be >= 1, got "
                f"{self.mesh_batch_rows} and {self.mesh_batch_rows_from}"
            )

    @property
    def max_length(self) -> int:
        """Upstream's field: the sequence length of the sample inputs."""
        return self.inputs.max_length


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


__all__ = [
    "DiffusersWeights",
    "Framework",
    "HubWeights",
    "InputSpec",
    "LLMModelConfig",
    "ModelConfig",
    "ModelGroup",
    "ModelInfo",
    "ModelSource",
    "ModelTask",
    "Parallelism",
    "StrEnum",
    "TestSpec",
    "TimmWeights",
    "TorchvisionWeights",
    "UrlWeights",
]
