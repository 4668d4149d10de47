"""The loader contract, checked on every discovered variant: a new loader is covered with no edits.

Forward passes run with seeded random weights at the depth and input size the variant table asks
for in tests (``test.num_layers``, ``test.input_size``), in fp32 and bf16.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from tt_forge_models import ForgeModel, ModelInfo
from tt_forge_models.config import ModelGroup, ModelSource, ModelTask, StrEnum
from tt_forge_models.inputs.tree import flatten
from tt_forge_models.inputs.tree import tensors as _tensors
from tt_forge_models.testing import all_variants, distinct_architectures, reduced_input_kwargs, reduced_kwargs

# PyTorch loaders; the JAX and ONNX ones have their own contract tests (tests/frameworks/).
VARIANTS = all_variants(framework="pytorch")
# Tier 0 costs nothing at any size (tables, meta builds, tokenised inputs): every variant, always.
EVERY_VARIANT = all_variants(framework="pytorch", large_params=float("inf"))
# Every framework's tables and infos.
EVERY_TABLE = all_variants(large_params=float("inf"))
DTYPES = [pytest.param(torch.float32, id="fp32"), pytest.param(torch.bfloat16, id="bf16")]

pytestmark = pytest.mark.filterwarnings(
    "ignore::tt_forge_models.WeightsFallbackWarning",
    "ignore::tt_forge_models.PreprocessorFallbackWarning",
)


def _batch_of(inputs) -> int:
    return _tensors(inputs)[0].shape[0]


def test_discovery_found_loaders():
    assert VARIANTS, "discovery found no loaders"
    ids = [p.id for p in EVERY_TABLE]
    assert len(ids) == len(set(ids)), "duplicate test IDs"
    assert all("/" not in p.values[0].variant for p in EVERY_TABLE)


@pytest.mark.parametrize("entry", EVERY_TABLE)
def test_variant_table_and_info(entry):
    loader_cls = entry.loader
    assert issubclass(loader_cls, ForgeModel)
    variant_enum = type(loader_cls.DEFAULT_VARIANT)
    assert issubclass(variant_enum, StrEnum) and variant_enum.__name__ == "ModelVariant"
    assert loader_cls.DEFAULT_VARIANT in loader_cls._VARIANTS
    config = entry.config
    assert isinstance(config.task, ModelTask) and isinstance(config.source, ModelSource)
    assert isinstance(config.group, ModelGroup)
    assert config.num_params, "every variant records its expected parameter count"
    info = entry.info
    assert isinstance(info, ModelInfo)
    assert info.task == config.task and info.source == config.source and info.variant == entry.variant
    assert info.name == f"{info.framework}_{info.model}_{info.variant}_{info.task}_{info.source}"
    assert info.to_report_dict()["name"] == info.name
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.variant = "other"  # type: ignore[misc]
    # The enum member and its string value select the same variant.
    member = next(v for v in loader_cls._VARIANTS if v.value == entry.variant)
    assert loader_cls(member).get_model_info() == loader_cls(entry.variant).get_model_info() == info


@pytest.mark.parametrize("entry", EVERY_VARIANT)
def test_meta_build_matches_recorded_parameter_count(entry):
    loader = entry.make_loader()
    model = loader.load_model(device="meta")
    assert loader.weights_source == "meta"
    assert all(p.device.type == "meta" for p in model.parameters())
    assert sum(p.numel() for p in model.parameters()) == entry.config.num_params


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("entry", EVERY_VARIANT)
def test_inputs_contract(entry, dtype, monkeypatch):
    loader = entry.make_loader()
    # load_inputs must never build or load a model.
    import tt_forge_models.weights as weights

    def forbidden(*args, **kwargs):
        raise AssertionError("load_inputs loaded model weights")

    monkeypatch.setattr(weights, "load_with_policy", forbidden)
    reference = loader.load_inputs(batch_size=2)
    inputs = loader.load_inputs(dtype_override=dtype, batch_size=2)
    again = loader.load_inputs(dtype_override=dtype, batch_size=2)
    assert _batch_of(inputs) == 2
    shared = {(name,) for name in loader.SHARED_INPUTS}  # e.g. label prompts every image shares
    paths = [tuple(getattr(key, "key", key) for key in path) for path, _ in flatten(inputs)]
    assert shared <= set(paths), f"SHARED_INPUTS names no input: {loader.SHARED_INPUTS}"
    for path, ref, got, got_again in zip(paths, _tensors(reference), _tensors(inputs), _tensors(again)):
        assert got.shape[0] == 2 or path in shared, f"{path} has no batch dimension"
        if ref.is_floating_point():
            assert got.dtype == dtype
        else:
            assert got.dtype == ref.dtype and torch.equal(got, ref), "integer inputs are never cast"
        assert torch.equal(got, got_again), "inputs are deterministic"
    assert _batch_of(loader.load_inputs(batch_size=1)) == 1


# bf16 forwards run in test_consumers.py, the way tt-xla's runner feeds them.
@pytest.mark.parametrize("dtype", [pytest.param(torch.float32, id="fp32")])
@pytest.mark.parametrize("entry", VARIANTS)
def test_forward_and_decode(entry, dtype):
    loader = entry.make_loader()
    model = loader.load_model(dtype_override=dtype, weights="random", **reduced_kwargs(entry))
    assert loader.weights_source == "random"
    assert not model.training
    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if tensor.is_floating_point():
            assert tensor.dtype == dtype, f"{name} is {tensor.dtype}"
    inputs = loader.load_inputs(dtype_override=dtype, batch_size=1, **reduced_input_kwargs(entry))
    with torch.no_grad():
        outputs = loader.call_model(model, inputs)
    for tensor in _tensors(loader.unpack_forward_output(outputs)):
        assert tensor.shape[0] == 1
        if tensor.is_floating_point():
            assert torch.isfinite(tensor.float()).all(), "outputs must be finite"
    decoded = loader.decode_output(outputs)
    assert decoded is not None and not isinstance(decoded, torch.Tensor)


# Seeding is the source's init code: an Instruct row beside its base row (one network, one source)
# adds nothing but minutes.
@pytest.mark.parametrize("entry", distinct_architectures(VARIANTS, by_source=True))
def test_random_weights_are_seeded_and_leave_global_rng_alone(entry):
    loader = entry.make_loader()
    state = torch.get_rng_state()
    first = loader.load_model(weights="random", seed=3, **reduced_kwargs(entry))
    assert torch.equal(state, torch.get_rng_state()), "random init touched the global RNG"
    second = loader.load_model(weights="random", seed=3, **reduced_kwargs(entry))
    other = loader.load_model(weights="random", seed=4, **reduced_kwargs(entry))
    a, b, c = (dict(m.named_parameters()) for m in (first, second, other))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a if a[k].numel() > 1)
    for tensor in list(first.parameters()) + list(first.buffers()):
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all()
