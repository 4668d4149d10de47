"""Llama in JAX (``llama/jax``): our Flax network against transformers' PyTorch one, on the same
seeded weights and the PyTorch loader's inputs (the prompt left-padded to 128 tokens, so most
queries see padding and the first ones see no key at all).

The twelve rows are six architectures (an Instruct row has its base row's network; the test below
proves it from the shipped configs). Each is checked at its own heads, KV heads, head size, RoPE,
vocabulary and head tying, two layers deep and narrowed to ``hidden_size`` twice the heads (48 to
128) and ``intermediate_size=128`` through the PyTorch loader's config keywords (one layer of the 70B row
is 3 G parameters at full width); the default row also runs one layer at full width. Shape-only
builds (``jax.eval_shape``) export every architecture at its real width.

The JAX contract suite (tests/frameworks/test_jax.py) adds, for these rows: the table is the
PyTorch table; shape-only builds at full size (8B and 70B included) have the table's parameter
counts; and on the default row's reduced instance, jit against eager, bf16 and tt-xla's tester calls.
"""

from __future__ import annotations

import functools
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from tt_forge_models import PreprocessorFallbackWarning
from tt_forge_models.frameworks.flax_weights import flatten, flax_to_torch, state_dict_to_numpy, torch_to_flax
from tt_forge_models.frameworks.jax_loader import count_params
from tt_forge_models.llama.jax.loader import ModelLoader, ModelVariant
from tt_forge_models.llama.jax.src.convert import SKIP, rules
from tt_forge_models.llama.jax.src.model import LlamaArch, LlamaForCausalLM, rope_inv_freq
from tt_forge_models.llama.pytorch.loader import ModelLoader as TorchModelLoader
from tt_forge_models.testing import pcc

# One row per architecture: (tied, RoPE, heads/KV heads/head size, vocabulary)
ARCHITECTURES = [
    ModelVariant.LLAMA_3_2_1B_INSTRUCT,  # tied, llama3 x32, 32/8 heads of 64
    ModelVariant.LLAMA_3_2_3B,  # tied, llama3 x32, 24/8 heads of 128
    ModelVariant.LLAMA_3_1_8B,  # untied, llama3 x8, 32/8 heads of 128
    ModelVariant.LLAMA_3_8B,  # untied, default RoPE (theta 5e5), 32/8 heads of 128
    ModelVariant.LLAMA_3_1_70B,  # untied, llama3 x8, 64/8 heads of 128
    ModelVariant.TINYLLAMA_V1_1,  # untied, default RoPE (theta 1e4), 32/4 heads of 64, 32k vocabulary
]
DEFAULT = ModelLoader.DEFAULT_VARIANT
NUM_LAYERS = 2
#: fp32 tolerance beside rtol=1e-4: the logits are O(1) and float32 carries ~1e-7 relative; sums
#: of up to 8192 products per matmul leave ~1e-6 absolute on the narrowed builds and up to 8e-6 on
#: the full-width layer (measured), so 2e-5 is 2.5 times the worst seen
ATOL = 2e-5


def _narrow(variant: ModelVariant) -> dict:
    """Config keywords that narrow a row's width (two channels per attention head, as transformers
    wants a multiple) but keep its heads and head size."""
    arch = LlamaArch.from_config(TorchModelLoader(variant).load_config())
    return {"hidden_size": 2 * arch.num_attention_heads, "intermediate_size": 128, "head_dim": arch.head_dim}


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        return fn(*args, **kwargs)


@functools.cache
def _torch_model(variant: ModelVariant):
    return TorchModelLoader(variant).load_model(weights="random", seed=0, num_layers=NUM_LAYERS, **_narrow(variant))


@functools.cache
def _jax(variant: ModelVariant, dtype=None):
    """(loader, module) for the narrowed build: the same seed as :func:`_torch_model`."""
    loader = ModelLoader(variant)
    module = loader.load_model(
        weights="random", seed=0, num_layers=NUM_LAYERS, dtype_override=dtype, **_narrow(variant)
    )
    _quiet(loader.load_inputs, dtype_override=dtype)
    return loader, module


@functools.cache
def _jax_logits(variant: ModelVariant, dtype=None) -> jax.Array:
    """The JAX loader's logits on its inputs, through ``jax.jit`` (eager is checked once below:
    op-by-op dispatch compiles every primitive and costs seconds per build)."""
    loader, module = _jax(variant, dtype)
    return jax.jit(module.apply)(loader.variables, **loader._inputs)["logits"]


@functools.cache
def _torch_logits(variant: ModelVariant) -> np.ndarray:
    inputs = _quiet(TorchModelLoader(variant).load_inputs)
    with torch.no_grad():
        return _torch_model(variant)(**inputs).logits.numpy()


def _stats(name: str, golden: np.ndarray, actual: np.ndarray) -> tuple[float, float]:
    golden, actual = np.array(golden, np.float32), np.array(actual, np.float32)
    value = pcc(torch.from_numpy(golden), torch.from_numpy(actual))
    diff = float(np.abs(golden - actual).max())
    print(f"\n{name}: PCC {value:.10f}, max abs diff {diff:.3g}")
    return value, diff


def test_six_architectures_cover_every_row():
    archs = {v: LlamaArch.from_config(TorchModelLoader(v).load_config()) for v in ModelVariant}
    chosen = {archs[v] for v in ARCHITECTURES}
    assert len(chosen) == len(ARCHITECTURES)
    assert set(archs.values()) == chosen


@pytest.mark.parametrize("variant", list(ModelVariant), ids=str)
def test_rope_inv_freq_is_transformers_bit_for_bit(variant):
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    config = TorchModelLoader(variant).load_config()
    reference = LlamaRotaryEmbedding(config)
    assert reference.attention_scaling == 1.0
    ours = rope_inv_freq(LlamaArch.from_config(config))
    assert ours.dtype == np.float32 and np.array_equal(ours, reference.inv_freq.numpy())


@pytest.mark.parametrize("variant", ARCHITECTURES, ids=str)
def test_round_trip_is_identical(variant):
    torch_model = _torch_model(variant)
    state = state_dict_to_numpy(torch_model)
    config = torch_model.config
    variables = torch_to_flax(state, rules(config), skip=SKIP)
    back = flax_to_torch(variables, rules(config))
    expected = set(state) - (set(SKIP) if config.tie_word_embeddings else set())
    assert set(back) == expected
    assert all(back[k].dtype == state[k].dtype and np.array_equal(back[k], state[k]) for k in expected)
    # the JAX loader, with the same seed, holds exactly these weights
    loader, _ = _jax(variant)
    from_loader = flax_to_torch(loader.variables, rules(config))
    assert set(from_loader) == expected
    assert all(np.array_equal(from_loader[k], state[k]) for k in expected)


@pytest.mark.parametrize("variant", ARCHITECTURES, ids=str)
def test_fp32_parity_with_pytorch(variant):
    loader, module = _jax(variant)
    torch_model = _torch_model(variant)
    # num_layers: two decoder layers, and the parameters PyTorch has (tied head counted once)
    layers = {k.split("/")[2] for k in flatten(loader.variables) if k.startswith("params/model/layers_")}
    assert layers == {"layers_0", "layers_1"}
    assert count_params(loader.variables) == sum(p.numel() for p in torch_model.parameters())
    assert ("lm_head" in loader.variables["params"]) is not torch_model.config.tie_word_embeddings
    inputs = loader._inputs
    assert sorted(inputs) == ["attention_mask", "input_ids", "position_ids"]  # PyTorch's, less use_cache
    assert inputs["input_ids"].dtype == jnp.int32 and int(inputs["attention_mask"].sum()) < 128  # padded
    out = _jax_logits(variant)
    golden = _torch_logits(variant)
    assert out.shape == golden.shape and out.dtype == jnp.float32
    value, _ = _stats(f"{variant} fp32", golden, out)
    assert value >= 0.9999
    np.testing.assert_allclose(np.asarray(out), golden, rtol=1e-4, atol=ATOL)


def test_defaults_without_mask_or_positions_match_pytorch():
    """No attention_mask (all visible) and no position_ids (0..n-1): the causal-only path."""
    loader, module = _jax(DEFAULT)
    ids = np.random.default_rng(0).integers(0, 128000, size=(2, 24))
    with torch.no_grad():
        golden = _torch_model(DEFAULT)(input_ids=torch.from_numpy(ids), use_cache=False).logits.numpy()
    out = jax.jit(module.apply)(loader.variables, input_ids=jnp.asarray(ids, jnp.int32))["logits"]
    assert _stats("no mask", golden, out)[0] >= 0.9999
    np.testing.assert_allclose(np.asarray(out), golden, rtol=1e-4, atol=ATOL)


def test_full_width_one_layer_parity():
    """The default row at its real width (2048 hidden, 8192 MLP, 128256 tied vocabulary), one
    layer, on the prompt padded to 48 tokens (the head dominates the time)."""
    torch_model = TorchModelLoader(DEFAULT).load_model(weights="random", seed=1, num_layers=1)
    inputs = _quiet(TorchModelLoader(DEFAULT).load_inputs, seq_len=48)
    assert int(inputs["attention_mask"].sum()) < 48
    with torch.no_grad():
        golden = torch_model(**inputs).logits.numpy()
    module = LlamaForCausalLM.from_config(torch_model.config)
    variables = torch_to_flax(state_dict_to_numpy(torch_model), rules(torch_model.config), skip=SKIP)
    assert count_params(variables) == TorchModelLoader._VARIANTS[DEFAULT].test.num_params
    del torch_model
    jax_inputs = {k: jnp.asarray(v.numpy().astype(np.int32)) for k, v in inputs.items() if k != "use_cache"}
    out = jax.jit(module.apply)(jax.tree_util.tree_map(jnp.asarray, variables), **jax_inputs)["logits"]
    value, _ = _stats(f"{DEFAULT} fp32 full width", golden, out)
    assert value >= 0.9999
    np.testing.assert_allclose(np.asarray(out), golden, rtol=1e-4, atol=ATOL)


def test_the_export_runs_as_jit_does():
    """jax.export of the jitted forward: StableHLO text whose compiled call gives jit's logits.
    (jit against eager: tests/frameworks/test_jax.py, on the default row's reduced instance.)"""
    loader, module = _jax(DEFAULT)
    variables, inputs = loader.variables, loader._inputs
    exported = jax.export.export(jax.jit(module.apply))(variables, **inputs)
    assert "stablehlo" in exported.mlir_module()
    logits = exported.call(variables, **inputs)["logits"]
    np.testing.assert_allclose(np.asarray(logits), np.asarray(_jax_logits(DEFAULT)), rtol=1e-6, atol=1e-6)


def test_decode_output_reads_jax_logits_as_pytorch_does():
    loader, _ = _jax(DEFAULT)
    decoded = loader.decode_output({"logits": _jax_logits(DEFAULT)})
    assert decoded == TorchModelLoader(DEFAULT).decode_output({"logits": torch.from_numpy(_torch_logits(DEFAULT))})


@pytest.mark.parametrize("variant", ARCHITECTURES, ids=str)
def test_export_stablehlo_shape_only(variant):
    """Every architecture at its real width exports (two layers; shape-only, no weights built)."""
    config = TorchModelLoader(variant).load_config(num_layers=NUM_LAYERS)
    module = LlamaForCausalLM.from_config(config, param_dtype=jnp.bfloat16)
    ids = jax.ShapeDtypeStruct((1, 128), jnp.int32)
    variables = jax.eval_shape(module.init, jax.random.key(0), input_ids=ids)
    exported = jax.export.export(jax.jit(module.apply))(variables, input_ids=ids, attention_mask=ids, position_ids=ids)
    assert "stablehlo" in exported.mlir_module()
    (logits,) = exported.out_avals
    assert logits.shape == (1, 128, config.vocab_size) and logits.dtype == jnp.bfloat16


def test_bf16_model_and_inputs():
    loader, module = _jax(DEFAULT, jnp.bfloat16)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(loader.variables)} == {jnp.dtype(jnp.bfloat16)}
    inputs = loader._inputs
    assert {inputs[k].dtype for k in ("input_ids", "attention_mask", "position_ids")} == {jnp.dtype(jnp.int32)}
    out = _jax_logits(DEFAULT, jnp.bfloat16)
    assert out.dtype == jnp.bfloat16
    value, _ = _stats(f"{DEFAULT} bf16 vs fp32", _jax_logits(DEFAULT), out)
    assert value >= 0.99


def test_bad_input_is_a_clear_error():
    torch_model = _torch_model(DEFAULT)
    state = {**state_dict_to_numpy(torch_model), "model.layers.0.self_attn.rotary_emb.inv_freq": np.zeros(32)}
    with pytest.raises(ValueError, match="no conversion rule.*rotary_emb.inv_freq"):
        torch_to_flax(state, rules(torch_model.config), skip=SKIP)
    config = TorchModelLoader(DEFAULT).load_config()
    for field, value, message in (
        ("rope_parameters", {"rope_type": "yarn", "rope_theta": 1e4, "factor": 2.0}, "rope_type 'yarn'"),
        ("hidden_act", "gelu", "hidden_act 'gelu'"),
    ):
        bad = config.__class__.from_dict({**config.to_dict(), field: value})
        with pytest.raises(ValueError, match=message):
            LlamaForCausalLM.from_config(bad)
    loader, module = _jax(DEFAULT)
    with pytest.raises(ValueError, match="use_cache=True"):
        module.apply(loader.variables, input_ids=jnp.zeros((1, 4), jnp.int32), use_cache=True)
    with pytest.raises(ValueError, match="mode='decode'.*no KV cache"):
        loader.load_inputs(mode="decode")
