"""The upstream zoo's contract is a subset of ours: its enum members, ModelInfo and base-class
hooks, with upstream's values and defaults (tenstorrent/tt-forge-models ``config.py`` and
``base.py`` at commit 3d755214, 2026-08-21)."""

from __future__ import annotations

import inspect

import pytest

from tt_forge_models import config
from tt_forge_models.base import ForgeModel, ForgePrefillModel
from tt_forge_models.testing import all_variants

UPSTREAM_ENUMS = {
    "ModelGroup": {
        "GENERALITY": "generality",
        "RED": "red",
        "PRIORITY": "priority",
        "VULCAN": "vulcan",
    },
    "ModelTask": {
        "NLP_TEXT_CLS": "nlp_text_cls",
        "NLP_TOKEN_CLS": "nlp_token_cls",
        "NLP_EMBED_GEN": "nlp_embed_gen",
        "NLP_QA": "nlp_qa",
        "NLP_CAUSAL_LM": "nlp_causal_lm",
        "NLP_MASKED_LM": "nlp_masked_lm",
        "NLP_TRANSLATION": "nlp_translation",
        "NLP_SUMMARIZATION": "nlp_summarization",
        "NLP_MULTI_CHOICE": "nlp_multi_choice",
        "NLP_IMAGE_TO_TEXT": "nlp_image_to_text",
        "AUDIO_CLS": "audio_cls",
        "AUDIO_ASR": "audio_asr",
        "CV_IMAGE_CLS": "cv_image_cls",
        "CV_IMAGE_SEG": "cv_image_seg",
        "CV_VIDEO_CLS": "cv_video_cls",
        "CV_OBJECT_DET": "cv_object_det",
        "CV_ZS_OBJECT_DET": "cv_zs_object_det",
        "CV_ZS_IMAGE_CLS": "cv_zs_image_cls",
        "CV_DEPTH_EST": "cv_depth_est",
        "CV_IMG_TO_IMG": "cv_img_to_img",
        "CV_IMAGE_FE": "cv_image_fe",
        "CV_MASK_GEN": "cv_mask_gen",
        "CV_KEYPOINT_DET": "cv_keypoint_det",
        "CV_KNOW_DISTILL": "cv_know_distill",
        "CV_PANOPTIC_SEG": "cv_panoptic_seg",
        "CV_IMAGE_TO_TEXT": "cv_image_to_text",
        "REALTIME_MAP_CONSTRUCTION": "realtime_map_construction",
        "MM_IMAGE_CAPT": "mm_image_capt",
        "MM_DOC_QA": "mm_doc_qa",
        "MM_VISUAL_QA": "mm_visual_qa",
        "MM_TTS": "mm_tts",
        "MM_IMAGE_TTT": "mm_image_ttt",
        "MM_VIDEO_TTT": "mm_video_ttt",
        "MM_AUDIO_TTT": "mm_audio_ttt",
        "MM_MASKED_LM": "mm_masked_lm",
        "MM_CAUSAL_LM": "mm_causal_lm",
        "MM_ACTION_PREDICTION": "mm_action_prediction",
        "MM_CONDITIONAL_GENERATION": "mm_conditional_generation",
        "MM_DOC_OCR": "mm_doc_ocr",
        "MM_IMAGE_TEXT_SIM": "mm_image_text_similarity",
        "CONDITIONAL_GENERATION": "conditional_generation",
        "ATOMIC_ML": "atomic_ml",
        "MULTIVIEW_3D_OBJECT_DET": "Multiview_3D_object_detection",
    },
    "ModelSource": {
        "HUGGING_FACE": "huggingface",
        "EASYDEL": "easydel",
        "TORCH_HUB": "torch_hub",
        "CUSTOM": "custom",
        "TORCHVISION": "torchvision",
        "TIMM": "timm",
        "TORCH_XRAY_VISION": "torchxrayvision",
        "OSMR": "osmr",
        "GITHUB": "github",
        "DETECTRON2": "detectron2",
    },
    "Framework": {
        "JAX": "jax",
        "TORCH": "pytorch",
        "NUMPY": "numpy",
        "ONNX": "onnx",
        "PADDLE": "paddle",
    },
    "Parallelism": {
        "SINGLE_DEVICE": "single_device",
        "DATA_PARALLEL": "data_parallel",
        "TENSOR_PARALLEL": "tensor_parallel",
    },
}
UPSTREAM_REPORT_KEYS = ("task", "source", "framework", "model_arch", "variant_name", "model_name_clean")


@pytest.mark.parametrize("enum_name", sorted(UPSTREAM_ENUMS))
def test_every_upstream_enum_member_exists_with_its_value(enum_name):
    ours = getattr(config, enum_name)
    missing = {
        name: value
        for name, value in UPSTREAM_ENUMS[enum_name].items()
        if name not in ours.__members__ or ours[name].value != value
    }
    assert not missing, f"{enum_name} lacks upstream members (or their values): {missing}"


def test_model_info_and_config_carry_upstream_fields():
    info = config.ModelInfo(
        model="m",
        variant="v",
        group=config.ModelGroup.VULCAN,
        task=config.ModelTask.CV_MASK_GEN,
        source=config.ModelSource.EASYDEL,
        framework=config.Framework.JAX,
    )
    assert info.model_name_clean is None and info.is_easydel()
    report = info.to_report_dict()
    assert tuple(report)[: len(UPSTREAM_REPORT_KEYS)] == UPSTREAM_REPORT_KEYS
    assert report["model_arch"] == "m" and report["variant_name"] == "v" and report["name"] == info.name
    weights = config.HubWeights.shipped("microsoft/resnet-50", "0" * 40, "ResNetForImageClassification")
    row = config.ModelConfig(weights, config.ModelTask.CV_IMAGE_CLS, 1)
    assert row.pretrained_model_name == "microsoft/resnet-50" and row.model_name_clean == "resnet-50"
    assert row.source == config.ModelSource.HUGGING_FACE
    assert issubclass(config.LLMModelConfig, config.ModelConfig)


@pytest.mark.parametrize("entry", all_variants(framework="pytorch", large_params=float("inf")))
def test_every_loader_keeps_upstream_hooks_and_defaults(entry):
    cls = entry.loader
    info = cls.get_model_info(entry.variant)
    assert info.model_name_clean == entry.config.model_name_clean
    assert not info.is_easydel()
    assert cls.get_variant_config(entry.variant) is entry.config
    loader = entry.make_loader()
    mesh = loader.get_mesh_config(4)
    assert isinstance(mesh, tuple) and len(mesh) == 2, "get_mesh_config always returns a pair"
    assert loader.requires_model_rewrites is False
    assert loader.get_weight_dtype_config_path() is None
    # tt-xla reads these signatures to decide what to pass.
    assert "dtype_override" in inspect.signature(loader.load_model).parameters
    assert {"dtype_override", "batch_size"} <= set(inspect.signature(loader.load_inputs).parameters)
    assert "outputs" in inspect.signature(loader.decode_output).parameters


def test_prefill_base_has_upstream_signatures():
    params = inspect.signature(ForgePrefillModel.load_inputs_prefill).parameters
    assert [(p.name, p.default) for p in list(params.values())[1:]] == [
        ("dtype_override", None),
        ("batch_size", 1),
        ("seq_len", 128),
    ]
    spec = inspect.signature(ForgePrefillModel.load_shard_spec).parameters
    assert list(spec)[1:] == ["model", "strategy", "batch_axis"]
    assert ForgeModel.get_mesh_config(object(), 4) == (None, ())  # upstream's default, no instance state


@pytest.mark.parametrize(
    "entry", [p for p in all_variants(framework="pytorch", large_params=float("inf")) if p.values[0].is_default]
)
def test_load_model_and_load_inputs_work_on_the_class(entry):
    """Upstream's README: ``model = ModelLoader.load_model()``, ``inputs = ModelLoader.load_inputs()``."""
    import torch

    cls = entry.loader
    model = cls.load_model(device="meta", dtype_override=torch.bfloat16)
    assert all(p.device.type == "meta" and p.dtype == torch.bfloat16 for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == entry.config.num_params  # the default variant's
    assert cls.load_inputs(batch_size=2) is not None
    assert list(inspect.signature(cls.load_model).parameters)[0] == "dtype_override"
