"""Every variant row of every discovered loader against the schema (as torchvision's
``test_schema_meta_validation`` checks its weights metadata), and proof that the checks fire: bad
rows are refused when constructed or reported by :func:`row_problems`."""

from __future__ import annotations

import dataclasses
import json

import pytest

from tt_forge_models.config import (
    HubWeights,
    InputSpec,
    LLMModelConfig,
    ModelConfig,
    ModelSource,
    ModelTask,
    TestSpec,
    TimmWeights,
    TorchvisionWeights,
    UrlWeights,
)
from tt_forge_models.resnet.pytorch import ModelLoader as ResNet
from tt_forge_models.testing import all_variants
from tt_forge_models.testing.schema import row_problems

EVERY_VARIANT = all_variants(framework="pytorch", large_params=float("inf"))  # rows are shared
REV = "0123456789abcdef0123456789abcdef01234567"
SHA = "ab" * 32
RESNET_DIR = ResNet._loader_dir()
IMAGE = InputSpec(image_size=(3, 224, 224))


@pytest.mark.parametrize("entry", EVERY_VARIANT)
def test_every_row_meets_the_schema(entry):
    config = entry.config
    assert row_problems(config, entry.loader._loader_dir()) == []
    data = config.to_dict()
    assert json.loads(json.dumps(data)) == data, "to_dict is JSON-ready"
    assert data["source"] == str(config.source) and data["weights"]["kind"]
    assert data["pretrained_model_name"] == config.pretrained_model_name == config.weights.pretrained_model_name


def test_source_is_the_kind_of_weights_record():
    sources = [
        (HubWeights.shipped("microsoft/resnet-50", REV, "ResNetForImageClassification"), ModelSource.HUGGING_FACE),
        (TorchvisionWeights("resnet50", "IMAGENET1K_V2"), ModelSource.TORCHVISION),
        (TimmWeights("resnet50", "a1_in1k", REV), ModelSource.TIMM),
        (UrlWeights("yolov4", "https://example.org/yolov4.weights", SHA), ModelSource.CUSTOM),
    ]
    for weights, source in sources:
        row = ModelConfig(weights, ModelTask.CV_IMAGE_CLS, 1, inputs=IMAGE)
        assert row.source == source and row.pretrained_model_name in ("microsoft/resnet-50", "resnet50", "yolov4")


# ---- bad records fail when the table is built, naming the field -------------------------------------


@pytest.mark.parametrize(
    "build, error, names",
    [
        (lambda: TorchvisionWeights("resnet18", 1), TypeError, "TorchvisionWeights.tag"),
        (lambda: TorchvisionWeights("resnet18", "IMAGENET1K_V1", "f37072fd"), ValueError, "sha256"),
        (lambda: TimmWeights("resnet50", "a1_in1k"), TypeError, "revision"),  # missing field
        (lambda: TimmWeights("resnet50", "a1_in1k", "main"), ValueError, "TimmWeights.revision"),
        (lambda: HubWeights("org/m", REV.upper(), "configs/m.json", "M"), ValueError, "HubWeights.revision"),
        (lambda: HubWeights("org/m", REV, "c.json", "M", mirror_packages="pkg/model"), TypeError, "mirror_packages"),
        (lambda: HubWeights("org/m", REV, "c.json", "M", mirror_sha256={"x": SHA}), ValueError, "mirror_packages"),
        (lambda: HubWeights("org/m", REV, "c.json", "M", mirror_format="onnx"), ValueError, "mirror_format"),
        (lambda: HubWeights("org/m", REV, "c.json", "M", layers_key=()), ValueError, "layers_key"),
        (lambda: HubWeights("org/m", REV, "c.json", "M", layers_key=("a", 2)), TypeError, "layers_key"),
        (lambda: UrlWeights("yolov4", "yolov4.weights", SHA), ValueError, "UrlWeights.url"),
        (lambda: UrlWeights("yolov4", "https://e.org/yolov4.weights", None), TypeError, "UrlWeights.sha256"),
        (lambda: InputSpec(image_size=(3, 224)), TypeError, "InputSpec.image_size"),
        (lambda: InputSpec(max_length=True), TypeError, "InputSpec.max_length"),
        (lambda: InputSpec(max_length=0), ValueError, "InputSpec.max_length"),
        (lambda: InputSpec(special_ids={"pad": "0"}), TypeError, "InputSpec.special_ids"),
        (lambda: InputSpec(tokenizer_fallbacks=("pkg/model",)), ValueError, "vocab_sha256"),
        (lambda: TestSpec(num_layers=2.0), TypeError, "TestSpec.num_layers"),
        (lambda: TestSpec(bf16_pcc=1.5), ValueError, "TestSpec.bf16_pcc"),
        (lambda: ModelConfig("resnet50", ModelTask.CV_IMAGE_CLS, 1), TypeError, "ModelConfig.weights"),
        (lambda: ModelConfig(TimmWeights("r", "t", REV), "cv_image_cls", 1), TypeError, "ModelConfig.task"),
        (lambda: ModelConfig(TimmWeights("r", "t", REV), ModelTask.CV_IMAGE_CLS, 0), ValueError, "num_params"),
        (lambda: ModelConfig(TimmWeights("r", "t", REV), ModelTask.CV_IMAGE_CLS), TypeError, "num_params"),
        (lambda: LLMModelConfig(TimmWeights("r", "t", REV), ModelTask.NLP_QA, 1), ValueError, "max_length"),
    ],
)
def test_bad_records_are_refused_naming_the_field(build, error, names):
    with pytest.raises(error, match=names):
        build()


def test_rows_are_immutable_all_the_way_down():
    from tt_forge_models.bert.pytorch import ModelLoader as Bert

    row = Bert.get_variant_config("all_minilm_l6_v2")
    with pytest.raises(TypeError):
        row.weights.mirror_sha256["config.json"] = "0" * 64  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.inputs.max_length = 1  # type: ignore[misc]


# ---- rows that construct but break the schema are reported ---------------------------------------------


def _hub(**kw):
    return HubWeights.shipped("microsoft/resnet-50", REV, "ResNetForImageClassification", **kw)


@pytest.mark.parametrize(
    "row, problem",
    [
        # a reduced depth where the source cuts none
        (
            ModelConfig(
                TorchvisionWeights("resnet18", "IMAGENET1K_V1"),
                ModelTask.CV_IMAGE_CLS,
                1,
                inputs=IMAGE,
                test=TestSpec(num_layers=2),
            ),
            "test.num_layers",
        ),
        # a hub row whose shipped config has no such depth field (ResNet's has depths, not layers)
        (ModelConfig(_hub(), ModelTask.CV_IMAGE_CLS, 1, inputs=IMAGE, test=TestSpec(num_layers=2)), "test.num_layers"),
        (
            ModelConfig(
                dataclasses.replace(_hub(), config_file="configs/missing.json"), ModelTask.CV_IMAGE_CLS, 1, inputs=IMAGE
            ),
            "config_file",
        ),
        # a field the task base never reads, and one it needs
        (
            ModelConfig(_hub(), ModelTask.CV_IMAGE_CLS, 1, inputs=InputSpec(image_size=(3, 8, 8), max_length=8)),
            "inputs.max_length is set",
        ),
        (ModelConfig(_hub(), ModelTask.CV_IMAGE_CLS, 1), "inputs.image_size is required"),
        (
            LLMModelConfig(_hub(), ModelTask.NLP_CAUSAL_LM, 1, inputs=InputSpec(max_length=8, max_new_tokens=2)),
            "inputs.prompt is required",
        ),
        (
            LLMModelConfig(
                _hub(), ModelTask.NLP_QA, 1, inputs=InputSpec(max_length=8, language="xx", special_ids={"pad": 0})
            ),
            "inputs.language",
        ),
        (
            LLMModelConfig(
                _hub(), ModelTask.NLP_QA, 1, inputs=InputSpec(max_length=8, language="en", special_ids={"pad": 0})
            ),
            "inputs.special_ids",
        ),
        # counts and sizes that do not reduce
        (
            ModelConfig(_hub(), ModelTask.CV_IMAGE_CLS, 10, inputs=IMAGE, test=TestSpec(num_params=5)),
            "test.num_layers is not set",
        ),
        (
            ModelConfig(_hub(), ModelTask.CV_IMAGE_CLS, 1, inputs=IMAGE, test=TestSpec(input_size=(3, 256, 256))),
            "test.input_size",
        ),
        (
            ModelConfig(
                UrlWeights("yolov4", "http://e.org/yolov4.weights", SHA), ModelTask.CV_OBJECT_DET, 1, inputs=IMAGE
            ),
            "https",
        ),
        (
            ModelConfig(TorchvisionWeights("resnet18", "default"), ModelTask.CV_IMAGE_CLS, 1, inputs=IMAGE),
            "weights.tag",
        ),
        (ModelConfig(_hub(), ModelTask.MM_TTS, 1), "no task base"),
        # a speech-recognition row reads max_new_tokens and ships its feature extractor and generation settings
        (ModelConfig(_hub(), ModelTask.AUDIO_ASR, 1), "inputs.max_new_tokens is required"),
        (ModelConfig(_hub(), ModelTask.AUDIO_ASR, 1, inputs=InputSpec(max_new_tokens=8)), ".preprocessor.json"),
    ],
)
def test_schema_reports_a_bad_row(row, problem):
    problems = row_problems(row, RESNET_DIR)
    assert any(problem in p for p in problems), problems


def test_schema_reports_a_row_of_the_wrong_kind():
    assert row_problems({"pretrained_model_name": "resnet50"}) == ["a row must be a ModelConfig, got dict"]
