"""Bad input gets a clear, typed error that names the bad value and what is accepted."""

from __future__ import annotations

import time

import pytest
import torch

from tt_forge_models import CorruptWeightsError, WeightsFallbackWarning, WeightsUnavailableError
from tt_forge_models.resnet.pytorch import ModelLoader, ModelVariant


def test_unknown_variant_lists_valid_ones():
    with pytest.raises(ValueError, match="resnet9000") as err:
        ModelLoader("resnet9000")
    for variant in ModelVariant:
        assert str(variant) in str(err.value)


def test_wrong_variant_type():
    with pytest.raises(TypeError, match="int"):
        ModelLoader(50)


def test_variant_rule_is_its_value_unless_another_loader_owns_the_enum():
    """One rule: a str whose value names a variant is accepted, whatever enum it comes from,
    except a member of another loader's ModelVariant, which says exactly that."""
    import enum

    from tt_forge_models.bert.pytorch import ModelVariant as BertVariant
    from tt_forge_models.config import StrEnum

    class Ours(StrEnum):
        RESNET_50 = "resnet50"

    class Pythons(enum.StrEnum):
        RESNET_50 = "resnet50"

    assert ModelLoader(Ours.RESNET_50).variant is ModelVariant.RESNET_50
    assert ModelLoader(Pythons.RESNET_50).variant is ModelVariant.RESNET_50
    with pytest.raises(ValueError, match="another loader's variant enum") as err:
        ModelLoader(BertVariant.BASE_UNCASED)
    assert "bert" in str(err.value) and "resnet/pytorch" in str(err.value)


def test_variant_string_and_member_are_equivalent():
    assert ModelLoader("resnet18").variant is ModelVariant.RESNET_18
    assert ModelLoader(ModelVariant.RESNET_18).variant is ModelVariant.RESNET_18
    assert ModelLoader().variant is ModelLoader.DEFAULT_VARIANT
    assert ModelVariant.RESNET_18 == "resnet18" and f"{ModelVariant.RESNET_18}" == "resnet18"


@pytest.mark.parametrize("dtype", [torch.int8, "int8", "fp64x"])
def test_unsupported_dtype(dtype):
    loader = ModelLoader(ModelVariant.RESNET_18)
    with pytest.raises(ValueError, match="bfloat16|bf16"):
        loader.load_inputs(dtype_override=dtype)
    with pytest.raises(ValueError, match="bfloat16|bf16"):
        loader.load_model(dtype_override=dtype, weights="random")


def test_dtype_of_wrong_type():
    with pytest.raises(TypeError, match="list"):
        ModelLoader(ModelVariant.RESNET_18).load_inputs(dtype_override=["bf16"])


def test_dtype_names_are_accepted():
    inputs = ModelLoader(ModelVariant.RESNET_18).load_inputs(dtype_override="bf16")
    assert inputs.dtype == torch.bfloat16


@pytest.mark.parametrize("batch_size", [0, -1])
def test_batch_size_below_one(batch_size):
    with pytest.raises(ValueError, match=str(batch_size)):
        ModelLoader(ModelVariant.RESNET_18).load_inputs(batch_size=batch_size)


def test_batch_size_of_wrong_type():
    with pytest.raises(TypeError, match="2.5"):
        ModelLoader(ModelVariant.RESNET_18).load_inputs(batch_size=2.5)


def test_unknown_weights_choice():
    with pytest.raises(ValueError, match="pretrianed"):
        ModelLoader(ModelVariant.RESNET_18).load_model(weights="pretrianed")


def test_missing_weights_path(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        ModelLoader(ModelVariant.RESNET_18).load_model(weights=missing)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        ModelLoader(ModelVariant.RESNET_18).load_model(weights=str(missing))


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_corrupt_weights_file(tmp_path, suffix):
    bad = tmp_path / f"corrupt{suffix}"
    bad.write_bytes(b"\x00garbage, not a checkpoint" * 10)
    with pytest.raises(CorruptWeightsError, match="corrupt"):
        ModelLoader(ModelVariant.RESNET_18).load_model(weights=bad)


def test_truncated_safetensors(tmp_path):
    from tt_forge_models.weights import save_safetensors

    model = ModelLoader(ModelVariant.RESNET_18).load_model(weights="random")
    path = save_safetensors(model, tmp_path / "resnet18.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CorruptWeightsError, match="resnet18.safetensors"):
        ModelLoader(ModelVariant.RESNET_18).load_model(weights=path)


def test_weights_for_another_architecture(tmp_path):
    from tt_forge_models.weights import save_safetensors

    model = ModelLoader(ModelVariant.RESNET_18).load_model(weights="random")
    path = save_safetensors(model, tmp_path / "resnet18.safetensors")
    with pytest.raises(CorruptWeightsError, match="missing|wrong shape"):
        ModelLoader(ModelVariant.RESNET_34).load_model(weights=path)


@pytest.mark.parametrize("variant", [ModelVariant.RESNET_50_HF, ModelVariant.RESNET_18, ModelVariant.RESNET_50_TIMM])
def test_pretrained_offline_fails_fast_and_names_the_remedy(variant, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    loader = ModelLoader(variant)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as err:
        loader.load_model(weights="pretrained")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert str(variant) in message and "weights='random'" in message
    assert loader.get_variant_config().pretrained_model_name in message


def test_pretrained_without_offline_switch_does_not_hang(tmp_path, monkeypatch):
    """With no switch set, the host probe finds no network within seconds (no route here)."""
    monkeypatch.delenv("TT_FORGE_MODELS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr("tt_forge_models.weights.policy._PROBE_TIMEOUT_S", 1.0)
    # Unroutable TEST-NET address: the probe cannot connect, whatever this machine's network is.
    monkeypatch.setattr("tt_forge_models.weights.torchvision.TorchvisionSource.host", "192.0.2.1", raising=False)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError):
        ModelLoader(ModelVariant.RESNET_18).load_model(weights="pretrained")
    assert time.perf_counter() - start < 5


def test_auto_falls_back_to_random_with_one_warning(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    loader = ModelLoader(ModelVariant.RESNET_18)
    with pytest.warns(WeightsFallbackWarning) as record:
        loader.load_model(weights="auto")
    fallbacks = [w for w in record if issubclass(w.category, WeightsFallbackWarning)]
    assert len(fallbacks) == 1
    assert "weights='random'" in str(fallbacks[0].message) or "random" in str(fallbacks[0].message)
    assert loader.weights_source == "random"


def test_default_weights_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("TT_FORGE_MODELS_WEIGHTS", "random")
    loader = ModelLoader(ModelVariant.RESNET_18)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "random" must not go through the fallback warning
        loader.load_model()
    assert loader.weights_source == "random"


def test_stray_load_option_is_an_error_not_ignored():
    with pytest.raises(TypeError, match="num_layers"):
        ModelLoader(ModelVariant.RESNET_18).load_model(weights="random", num_layers=2)
