"""A row's reduced test build: ``test.num_layers`` and ``test.overrides`` (config keywords where
cutting the depth is not enough), what ``reduced_kwargs`` passes to ``load_model`` and what the
schema accepts; and the ``DiffusersWeights`` record."""

from __future__ import annotations

import dataclasses
import types

import pytest

from tt_forge_models.config import (
    DiffusersWeights,
    InputSpec,
    ModelConfig,
    ModelSource,
    ModelTask,
    TestSpec,
    TorchvisionWeights,
)
from tt_forge_models.discovery import list_variants
from tt_forge_models.testing import reduced_kwargs
from tt_forge_models.testing.schema import row_problems

REV = "0123456789abcdef0123456789abcdef01234567"


def test_overrides_are_a_frozen_mapping_of_config_fields():
    spec = TestSpec(overrides={"block_out_channels": (32, 64)}, num_params=5)
    assert isinstance(spec.overrides, types.MappingProxyType)
    with pytest.raises(TypeError):
        spec.overrides["layers_per_block"] = 1  # type: ignore[index]
    with pytest.raises(ValueError, match="num_layers has its own field"):
        TestSpec(overrides={"num_layers": 2})
    with pytest.raises(ValueError, match="config fields"):
        TestSpec(overrides={"not a name": 2})
    with pytest.raises(TypeError, match="TestSpec.overrides"):
        TestSpec(overrides=[("a", 1)])


def test_reduced_kwargs_passes_depth_and_overrides():
    entry = next(e for e in list_variants(model="stable_diffusion") if e.variant == "unet")
    assert reduced_kwargs(entry) == dict(entry.config.test.overrides) and "block_out_channels" in reduced_kwargs(entry)
    bert = next(e for e in list_variants(model="bert") if e.variant == "base_sst2")
    assert reduced_kwargs(bert) == {"num_layers": bert.config.test.num_layers}


def test_schema_reports_overrides_a_row_cannot_take():
    image = InputSpec(image_size=(3, 224, 224))
    row = ModelConfig(
        TorchvisionWeights("resnet18", "IMAGENET1K_V1"),
        ModelTask.CV_IMAGE_CLS,
        10,
        inputs=image,
        test=TestSpec(overrides={"width": 2}, num_params=5),
    )
    assert any("take no config keywords" in p for p in row_problems(row))
    # with overrides, a reduced count needs no num_layers
    assert not any("num_layers is not set" in p for p in row_problems(row))
    assert any(
        "num_layers is not set" in p for p in row_problems(dataclasses.replace(row, test=TestSpec(num_params=5)))
    )


def test_diffusers_weights_record():
    weights = DiffusersWeights.shipped("org/pipe", REV, "unet", "UNet2DConditionModel")
    assert weights.config_file == "configs/org-pipe-unet.json" and weights.pretrained_model_name == "org/pipe"
    assert DiffusersWeights.shipped("org/model", REV, "", "AutoencoderKL").config_file == "configs/org-model.json"
    row = ModelConfig(
        weights, ModelTask.CONDITIONAL_GENERATION, 1, inputs=InputSpec(latent_size=(4, 8, 8), max_length=7)
    )
    assert row.source == ModelSource.HUGGING_FACE and row.to_dict()["weights"]["kind"] == "diffusers"
    for bad, error in [("/abs", ValueError), ("a/../b", ValueError), ("a//b", ValueError), (3, TypeError)]:
        with pytest.raises(error, match="DiffusersWeights.subfolder"):
            DiffusersWeights("org/pipe", REV, bad, "c.json", "M")
    with pytest.raises(ValueError, match="InputSpec.latent_size"):
        InputSpec(latent_size=(4, 0, 8))
