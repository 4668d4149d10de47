"""``num_layers=`` on nested configs: ``HubWeights.layers_key`` as a dotted path into a sub-config or
a tuple of paths cut together, ``layer_index_keys`` that follow the cut, the typed errors of bad
paths and values, folders checked field by field inside sub-configs, and a cut folder's state
dict assigned without ``from_pretrained``.

A tiny SAM stands in for every nested architecture: a 4-layer ViT image encoder whose layers 1
and 3 attend globally (their relative-position tables have another shape than the windowed
layers'), and a 2-layer two-way transformer in the mask decoder.
"""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
import transformers

from tt_forge_models import CorruptWeightsError
from tt_forge_models.config import HubWeights, InputSpec, ModelConfig, ModelTask, TestSpec
from tt_forge_models.testing.schema import row_problems
from tt_forge_models.weights.depth import cut, depth
from tt_forge_models.weights.huggingface import HuggingFaceSource

REV = "0123456789abcdef0123456789abcdef01234567"
VISION = "vision_config.num_hidden_layers"
DECODER = "mask_decoder_config.num_hidden_layers"
GLOBAL = "vision_config.global_attn_indexes"
TINY_SAM = {
    "architectures": ["SamModel"],
    "model_type": "sam",
    "initializer_range": 0.02,
    "vision_config": {
        "hidden_size": 32,
        "output_channels": 16,
        "num_hidden_layers": 4,
        "num_attention_heads": 2,
        "image_size": 64,
        "patch_size": 16,
        "window_size": 2,
        "global_attn_indexes": [1, 3],
        "mlp_dim": 64,
        "num_pos_feats": 8,
    },
    "prompt_encoder_config": {"hidden_size": 16, "image_size": 64, "patch_size": 16, "mask_input_channels": 4},
    "mask_decoder_config": {
        "hidden_size": 16,
        "mlp_dim": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "iou_head_hidden_dim": 16,
    },
}


def _source(tmp_path, layers_key=VISION, layer_index_keys=(GLOBAL,), config=TINY_SAM):
    path = tmp_path / "facebook-sam-tiny.json"
    path.write_text(json.dumps(config))
    return HuggingFaceSource(
        "facebook/sam-tiny",
        revision=REV,
        config_file=path,
        model_class="SamModel",
        layers_key=layers_key,
        layer_index_keys=layer_index_keys,
    )


# ---- the row record ----------------------------------------------------------------------------


def test_layers_key_takes_a_path_or_a_tuple_of_paths():
    one = HubWeights("org/m", REV, "c.json", "M", layers_key=VISION)
    both = HubWeights("org/m", REV, "c.json", "M", layers_key=(VISION, "text_config.num_hidden_layers"))
    assert one.layer_paths == (VISION,) and both.layer_paths == (VISION, "text_config.num_hidden_layers")
    assert HubWeights("org/m", REV, "c.json", "M").layer_paths == ("num_hidden_layers",)


@pytest.mark.parametrize(
    "fields, error, match",
    [
        (dict(layers_key="vision_config..num_hidden_layers"), ValueError, "dotted into sub-configs"),
        (dict(layers_key=""), ValueError, "got ''"),
        (dict(layers_key="vision_config.2"), ValueError, "vision_config.2"),
        (dict(layers_key=()), ValueError, "at least one"),
        (dict(layers_key=(VISION, VISION)), ValueError, "names a field twice"),
        (dict(layers_key=[VISION]), TypeError, "HubWeights.layers_key"),
        (dict(layers_key=(VISION, 2)), TypeError, "HubWeights.layers_key"),
        (dict(layer_index_keys="vision_config.global_attn_indexes"), TypeError, "layer_index_keys"),
        (dict(layer_index_keys=("vision config",)), ValueError, "layer_index_keys"),
    ],
)
def test_bad_paths_are_refused_when_the_row_is_built(fields, error, match):
    with pytest.raises(error, match=match):
        HubWeights("org/m", REV, "c.json", "M", **fields)


# ---- the cut -------------------------------------------------------------------------------------


def test_a_nested_cut_sets_the_depth_and_keeps_the_indices_below_it():
    cut_data = cut(TINY_SAM, 2, layers_key=VISION, layer_index_keys=(GLOBAL,), where="tiny")
    assert cut_data["vision_config"]["num_hidden_layers"] == 2
    assert cut_data["vision_config"]["global_attn_indexes"] == [1]
    assert cut_data["mask_decoder_config"]["num_hidden_layers"] == 2
    assert TINY_SAM["vision_config"]["num_hidden_layers"] == 4, "the input is left as it was"
    assert TINY_SAM["vision_config"]["global_attn_indexes"] == [1, 3]
    assert (
        cut(TINY_SAM, 1, layers_key=VISION, layer_index_keys=(GLOBAL,), where="tiny")["vision_config"][
            "global_attn_indexes"
        ]
        == []
    )


def test_a_tuple_of_paths_is_cut_together_and_the_shallowest_is_the_maximum():
    assert depth(TINY_SAM, (VISION, DECODER), where="tiny") == 2
    both = cut(TINY_SAM, 1, layers_key=(VISION, DECODER), where="tiny")
    assert both["vision_config"]["num_hidden_layers"] == both["mask_decoder_config"]["num_hidden_layers"] == 1
    with pytest.raises(ValueError, match=r"num_layers \(of tiny\) must be >= 1 and <= 2, got 3"):
        cut(TINY_SAM, 3, layers_key=(VISION, DECODER), where="tiny")


@pytest.mark.parametrize(
    "num_layers, error, match",
    [
        (0, ValueError, ">= 1 and <= 4, got 0"),
        (5, ValueError, "<= 4, got 5"),
        ("2", TypeError, "must be an integer, got str"),
        (2.0, TypeError, "must be an integer, got float"),
        (True, TypeError, "got bool"),
    ],
)
def test_bad_num_layers_are_typed_errors(num_layers, error, match):
    with pytest.raises(error, match=match):
        cut(TINY_SAM, num_layers, layers_key=VISION, where="tiny")


def test_paths_the_config_lacks_or_that_hold_no_depth_are_typed_errors():
    with pytest.raises(TypeError, match="'text_config.num_hidden_layers', which tiny does not have"):
        cut(TINY_SAM, 1, layers_key=(VISION, "text_config.num_hidden_layers"), where="tiny")
    with pytest.raises(TypeError, match="'vision_config.hidden_size.x'"):
        depth(TINY_SAM, "vision_config.hidden_size.x", where="tiny")  # a step that is no sub-config
    with pytest.raises(ValueError, match="must be a depth"):
        depth(TINY_SAM, "vision_config.global_attn_indexes", where="tiny")
    bad = json.loads(json.dumps(TINY_SAM))
    bad["vision_config"]["global_attn_indexes"] = "1,3"
    with pytest.raises(ValueError, match="must list layer indices"):
        cut(bad, 1, layers_key=VISION, layer_index_keys=(GLOBAL,), where="tiny")


def test_a_hub_row_without_the_depth_field_refuses_num_layers():
    """ResNet's Hugging Face config has no num_hidden_layers: num_layers= used to be accepted there
    and the full model built; it is now refused as a keyword the variant does not take."""
    from tt_forge_models.resnet.pytorch import ModelLoader as ResNet

    with pytest.raises(TypeError, match="'num_hidden_layers'.*no such depth to cut"):
        ResNet("resnet_50_hf").load_model(device="meta", num_layers=2)


# ---- the source: config, folders, state dicts ----------------------------------------------------------


def test_the_source_builds_the_cut_architecture(tmp_path):
    source = _source(tmp_path)
    config = source.load_config(num_layers=2)
    assert config.vision_config.num_hidden_layers == 2 and config.vision_config.global_attn_indexes == [1]
    model = source.build_meta(num_layers=2)
    assert len(model.vision_encoder.layers) == 2 and len(model.mask_decoder.transformer.layers) == 2
    assert [layer.window_size for layer in model.vision_encoder.layers] == [2, 0]
    both = _source(tmp_path, layers_key=(VISION, DECODER)).build_meta(num_layers=1)
    assert len(both.vision_encoder.layers) == len(both.mask_decoder.transformer.layers) == 1
    with pytest.raises(ValueError, match="<= 2, got 3"):
        _source(tmp_path, layers_key=(VISION, DECODER)).load_config(num_layers=3)


@contextlib.contextmanager
def _no_from_pretrained(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called")

    with monkeypatch.context() as patched:
        patched.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(refuse))
        yield


@pytest.fixture
def tiny_folder(tmp_path):
    source = _source(tmp_path)
    model = source.build_random(dtype=torch.float32, seed=3)
    model.save_pretrained(tmp_path / "ckpt")
    return source, model, tmp_path / "ckpt"


def test_a_cut_folder_is_assigned_with_the_layers_beyond_the_cut_dropped(tiny_folder, monkeypatch):
    source, full, folder = tiny_folder
    with _no_from_pretrained(monkeypatch):
        cut_model = source.load_path(folder, dtype=torch.bfloat16, num_layers=2)
    assert cut_model.config.vision_config.num_hidden_layers == 2
    assert cut_model.config.vision_config.global_attn_indexes == [1]
    theirs = full.state_dict()
    ours = cut_model.state_dict()
    assert not any(key.startswith(("vision_encoder.layers.2.", "vision_encoder.layers.3.")) for key in ours)
    for key, tensor in ours.items():  # layer 1 is global in both: its relative-position table fits
        assert tensor.dtype == torch.bfloat16 and torch.equal(tensor, theirs[key].to(torch.bfloat16)), key
    assert ours["vision_encoder.layers.1.attn.rel_pos_h"].shape == (7, 16)


def test_folders_are_checked_field_by_field_inside_sub_configs(tiny_folder, tmp_path):
    source, _, folder = tiny_folder
    data = json.loads((folder / "config.json").read_text())
    data["vision_config"]["hidden_size"] = 48
    (folder / "config.json").write_text(json.dumps(data))
    with pytest.raises(CorruptWeightsError, match=r"vision_config\.hidden_size 48 \(variant: 32\)"):
        source.load_path(folder, dtype=None)

    # A folder saved at the cut depth loads only when the same cut is asked for.
    small = _source(tmp_path).build_random(dtype=torch.float32, seed=4, num_layers=2)
    small.save_pretrained(tmp_path / "small")
    with pytest.raises(CorruptWeightsError, match=r"vision_config\.num_hidden_layers 2 \(variant: 4\)"):
        source.load_path(tmp_path / "small", dtype=None)
    assert len(source.load_path(tmp_path / "small", dtype=None, num_layers=2).vision_encoder.layers) == 2


# ---- the schema --------------------------------------------------------------------------------------


def _row(tmp_path, **weights_fields):
    (tmp_path / "configs").mkdir(exist_ok=True)
    (tmp_path / "configs" / "facebook-sam-tiny.json").write_text(json.dumps(TINY_SAM))
    weights = HubWeights.shipped("facebook/sam-tiny", REV, "SamModel", **weights_fields)
    return ModelConfig(
        weights, ModelTask.CV_MASK_GEN, 73_717, inputs=InputSpec(image_size=(3, 64, 64)), test=TestSpec(num_layers=2)
    )


def test_the_schema_reads_nested_depths_and_index_fields(tmp_path):
    assert row_problems(_row(tmp_path, layers_key=VISION, layer_index_keys=(GLOBAL,)), tmp_path) == []
    assert row_problems(_row(tmp_path, layers_key=(VISION, DECODER)), tmp_path) == [
        "test.num_layers (2) must be below the full depth (2)"
    ]
    missing = row_problems(_row(tmp_path, layers_key="vision_config.depth"), tmp_path)
    assert len(missing) == 1 and "test.num_layers is set but" in missing[0]
    not_indices = row_problems(_row(tmp_path, layers_key=VISION, layer_index_keys=("vision_config.mlp_dim",)), tmp_path)
    assert not_indices == [
        "weights.layer_index_keys names 'vision_config.mlp_dim', which is no list of layer indices in the config"
    ]
