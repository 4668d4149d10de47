"""Llama: the variant table, the memory guard, random init, inputs, decode steps, generation and
the multi-device hooks. Models here are cut (``num_layers``) and, where the width does not matter,
narrowed with config overrides, so the module runs in seconds."""

from __future__ import annotations

import re
import time
import warnings

import pytest
import torch

from tt_forge_models import ModelTooLargeError, PreprocessorFallbackWarning
from tt_forge_models.llama import ModelLoader, ModelVariant
from tt_forge_models.tasks.generation import cache_keyword

# A narrow Llama that keeps the variant's vocabulary, RoPE and head structure.
NARROW = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16)

# The published architectures, as issue 4 lists them.
ARCH = {
    "meta-llama/Llama-3.2-1B": dict(
        hidden_size=2048, num_hidden_layers=16, num_attention_heads=32, num_key_value_heads=8, intermediate_size=8192
    ),
    "meta-llama/Llama-3.2-3B": dict(
        hidden_size=3072, num_hidden_layers=28, num_attention_heads=24, num_key_value_heads=8, intermediate_size=8192
    ),
    "meta-llama/Llama-3.1-8B": dict(
        hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336
    ),
    "meta-llama/Meta-Llama-3-8B": dict(
        hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8, intermediate_size=14336
    ),
    "meta-llama/Llama-3.1-70B": dict(
        hidden_size=8192, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8, intermediate_size=28672
    ),
    "meta-llama/Llama-3.3-70B": dict(
        hidden_size=8192, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8, intermediate_size=28672
    ),
    "TinyLlama/TinyLlama_v1.1": dict(
        hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4, intermediate_size=5632
    ),
}
PUBLISHED_PARAMS = {
    "meta-llama/Llama-3.2-1B": 1_235_814_400,
    "meta-llama/Llama-3.2-3B": 3_212_749_824,
    "meta-llama/Llama-3.1-8B": 8_030_261_248,
    "meta-llama/Meta-Llama-3-8B": 8_030_261_248,
    "meta-llama/Llama-3.1-70B": 70_553_706_496,
    "meta-llama/Llama-3.3-70B": 70_553_706_496,
    "TinyLlama/TinyLlama_v1.1": 1_100_048_384,
}


def _base_id(hub_id: str) -> str:
    return hub_id.removesuffix("-Instruct")


@pytest.fixture
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        yield


# ---- the table ---------------------------------------------------------------------------------


def test_variant_names_and_default():
    assert ModelLoader.DEFAULT_VARIANT == ModelVariant.LLAMA_3_2_1B_INSTRUCT
    for variant in ModelVariant:
        assert re.fullmatch(r"[a-z0-9_]+", variant.value), variant
    assert len(ModelVariant) == 12


@pytest.mark.parametrize("variant", list(ModelVariant))
def test_config_is_the_published_architecture(variant):
    row = ModelLoader._VARIANTS[variant]
    config = ModelLoader(variant).load_config()
    base = _base_id(row.pretrained_model_name)
    for key, value in ARCH[base].items():
        assert getattr(config, key) == value, key
    assert row.num_params == PUBLISHED_PARAMS[base]
    assert row.test.num_layers == 1 and row.max_length == 128 and row.inputs.prompt
    assert re.fullmatch(r"[0-9a-f]{40}", row.weights.revision)
    rope = config.rope_parameters
    if base.startswith("TinyLlama"):
        assert (config.vocab_size, config.bos_token_id, rope["rope_theta"]) == (32000, 1, 10000.0)
        assert rope["rope_type"] == "default"
    else:
        assert (config.vocab_size, config.bos_token_id, rope["rope_theta"]) == (128256, 128000, 500000.0)
        if base == "meta-llama/Meta-Llama-3-8B":
            assert rope["rope_type"] == "default"
        else:
            factor = 32.0 if "3.2" in base else 8.0
            assert rope["rope_type"] == "llama3"
            assert (rope["factor"], rope["low_freq_factor"], rope["high_freq_factor"]) == (factor, 1.0, 4.0)
            assert rope["original_max_position_embeddings"] == 8192
    assert config.tie_word_embeddings == ("3.2" in base)


@pytest.mark.parametrize("variant", list(ModelVariant))
def test_meta_builds_match_both_recorded_counts(variant):
    loader = ModelLoader(variant)
    row = loader.get_variant_config()
    full = loader.load_model(device="meta")
    test_build = loader.load_model(device="meta", num_layers=row.test.num_layers)
    assert sum(p.numel() for p in full.parameters()) == row.num_params
    assert sum(p.numel() for p in test_build.parameters()) == row.test.num_params
    tied = full.lm_head.weight is full.model.embed_tokens.weight
    assert tied == full.config.tie_word_embeddings


def test_large_mark_follows_the_test_build():
    from tt_forge_models.testing import all_variants

    marked = {p.id.split("-", 1)[1] for p in all_variants(model="llama", framework="pytorch") if p.marks}
    assert marked == {v.value for v in ModelVariant if "_8b" in v.value or "_70b" in v.value}


# ---- loading -----------------------------------------------------------------------------------


def test_load_config_builds_nothing(monkeypatch):
    import tt_forge_models.weights.materialize as materialize

    monkeypatch.setattr(materialize, "construct_on_meta", lambda *a, **k: pytest.fail("built a model"))
    config = ModelLoader(ModelVariant.LLAMA_3_1_70B).load_config(num_layers=3)
    assert config.num_hidden_layers == 3 and config.hidden_size == 8192


def test_full_70b_on_meta_is_instant():
    loader = ModelLoader(ModelVariant.LLAMA_3_3_70B_INSTRUCT)
    loader.load_model(device="meta")  # warm the imports
    start = time.process_time()
    model = loader.load_model(device="meta", dtype_override=torch.bfloat16)
    assert time.process_time() - start < 2.0
    assert model.lm_head.weight.device.type == "meta" and model.lm_head.weight.dtype == torch.bfloat16


@pytest.mark.parametrize("bad", [0, 81, "2", True])
def test_num_layers_is_validated(bad):
    with pytest.raises((ValueError, TypeError), match="num_layers"):
        ModelLoader(ModelVariant.LLAMA_3_1_70B).load_model(device="meta", num_layers=bad)


def test_misspelt_keyword_is_an_error_not_a_full_model():
    with pytest.raises(TypeError, match="num_layer"):
        ModelLoader().load_model(weights="random", num_layer=1)


# ---- the memory guard --------------------------------------------------------------------------


@pytest.fixture
def machine_with_24_gib(monkeypatch):
    import tt_forge_models.weights.memory as memory

    monkeypatch.setattr(memory, "available_bytes", lambda: 24 * 2**30)


@pytest.mark.parametrize("weights", ["random", "pretrained", "auto"])
def test_70b_is_refused_before_anything_is_built_or_fetched(weights, machine_with_24_gib, monkeypatch):
    from tt_forge_models.weights.huggingface import HuggingFaceSource

    monkeypatch.setattr(HuggingFaceSource, "_from_pretrained", lambda *a, **k: pytest.fail("reached from_pretrained"))
    monkeypatch.setattr(HuggingFaceSource, "build_random", lambda *a, **k: pytest.fail("reached build_random"))
    loader = ModelLoader(ModelVariant.LLAMA_3_1_70B_INSTRUCT)
    loader.load_model(device="meta", num_layers=1)  # warm the imports: time the guard itself
    start, cpu_start = time.perf_counter(), time.process_time()
    with pytest.raises(ModelTooLargeError) as err:
        loader.load_model(weights=weights, dtype_override=torch.bfloat16)
    # CPU time, since other work on a shared runner stretches wall time; about 0.2 s here.
    assert time.process_time() - cpu_start < 1.0
    assert time.perf_counter() - start < 10.0, "no download, no allocation, no hang"
    assert isinstance(err.value, MemoryError)
    message = str(err.value)
    assert "131.4 GiB" in message  # 70,553,706,496 parameters x 2 bytes
    assert "llama_3_1_70b_instruct" in message
    for alternative in ("num_layers=", "device='meta'", "bfloat16"):
        assert alternative in message


def test_guard_counts_the_cut_model_and_the_dtype(machine_with_24_gib):
    source = ModelLoader(ModelVariant.LLAMA_3_1_8B).source
    assert source.estimate_bytes(dtype=torch.float32) == 8_030_261_248 * 4
    assert source.estimate_bytes(dtype=torch.bfloat16, num_layers=1) == 1_268_789_248 * 2
    with pytest.raises(ModelTooLargeError):  # 32 GB in fp32 does not fit in 24 GiB
        ModelLoader(ModelVariant.LLAMA_3_1_8B).load_model(weights="random")


def test_guard_also_covers_a_local_folder(tmp_path, machine_with_24_gib):
    import json

    config = ModelLoader(ModelVariant.LLAMA_3_1_70B).load_config().to_dict()
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelTooLargeError):
        ModelLoader(ModelVariant.LLAMA_3_1_70B).load_model(weights=tmp_path)


# ---- random init -------------------------------------------------------------------------------


def _rope(config, dtype):
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    kind = config.rope_parameters["rope_type"]
    fn = LlamaRotaryEmbedding.compute_default_rope_parameters if kind == "default" else ROPE_INIT_FUNCTIONS[kind]
    return fn(config)[0].to(dtype)


@pytest.mark.parametrize("variant", [ModelVariant.LLAMA_3_2_1B_INSTRUCT, ModelVariant.TINYLLAMA_V1_1])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_random_init_single_pass_in_target_dtype(variant, dtype):
    loader = ModelLoader(variant)
    model = loader.load_model(weights="random", dtype_override=dtype, num_layers=1, **NARROW)
    config = model.config
    rotary = model.model.rotary_emb
    expected = _rope(config, dtype)
    assert rotary.inv_freq.dtype == dtype and torch.equal(rotary.inv_freq, expected)
    assert torch.equal(rotary.original_inv_freq, expected)
    assert (model.lm_head.weight is model.model.embed_tokens.weight) == config.tie_word_embeddings
    for name, param in model.named_parameters():
        assert not hasattr(param, "_is_hf_initialized"), name
        if "norm" in name:
            assert torch.equal(param, torch.ones_like(param)), name
        else:
            assert abs(param.float().std().item() - config.initializer_range) < 2e-3, name
            assert abs(param.float().mean().item()) < 2e-3, name


def test_single_pass_init_draws_what_transformers_draws():
    """Untied, one draw per tensor is transformers' own init, value for value; tied, the alias
    that transformers would redraw is skipped."""
    import transformers

    from tt_forge_models.weights.huggingface import init_once_
    from tt_forge_models.weights.materialize import build_random

    for tied in (False, True):
        config = ModelLoader().load_config(
            num_layers=2, tie_word_embeddings=tied, vocab_size=1000, bos_token_id=1, eos_token_id=2, **NARROW
        )
        ours, theirs = (
            build_random(lambda: transformers.LlamaForCausalLM(config), dtype=None, init=init, buffers_on_meta=True)
            for init in (init_once_, lambda model: model.initialize_weights())
        )
        a, b = dict(ours.named_parameters()), dict(theirs.named_parameters())
        same = {k for k in a if torch.equal(a[k], b[k])}
        if tied:  # transformers redraws the embedding as lm_head, last; everything before agrees
            assert ours.lm_head.weight is ours.model.embed_tokens.weight
            assert same == set(a) - {"model.embed_tokens.weight"}
        else:
            assert same == set(a)


def test_random_weights_are_seeded():
    loader = ModelLoader(ModelVariant.TINYLLAMA_V1_1)
    a, b = (loader.load_model(weights="random", seed=7, num_layers=1, **NARROW) for _ in range(2))
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))


# ---- inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, bos", [(ModelVariant.LLAMA_3_2_1B_INSTRUCT, 128000), (ModelVariant.TINYLLAMA_V1_1, 1)]
)
def test_prefill_inputs_are_left_padded_with_one_fallback_warning(variant, bos):
    loader = ModelLoader(variant)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = loader.load_inputs(batch_size=3)
    fallbacks = [w for w in caught if issubclass(w.category, PreprocessorFallbackWarning)]
    assert len(fallbacks) == 1 and "synthetic" in str(fallbacks[0].message)
    assert set(inputs) == {"input_ids", "attention_mask", "position_ids", "use_cache"}
    assert inputs["use_cache"] is False, "the prefill graph returns logits only"
    ids, mask, pos = inputs["input_ids"], inputs["attention_mask"], inputs["position_ids"]
    assert ids.shape == mask.shape == pos.shape == (3, 128)
    assert ids.dtype == mask.dtype == pos.dtype == torch.long
    n = int(mask[0].sum())
    assert 20 < n < 128
    assert torch.equal(mask[:, -n:], torch.ones(3, n, dtype=torch.long)) and not mask[:, :-n].any()
    assert (ids[:, -n] == bos).all()
    config = loader.load_config()
    specials = {bos, config.eos_token_id if isinstance(config.eos_token_id, int) else config.eos_token_id[0]}
    assert not set(ids[0, -n + 1 :].tolist()) & specials
    assert torch.equal(pos[0, -n:], torch.arange(n))
    assert torch.equal(ids[0], ids[2])


def test_seq_len_pads_or_cuts(quiet):
    loader = ModelLoader()
    long = loader.load_inputs(seq_len=256)
    short = loader.load_inputs(seq_len=8)
    n = int(long["attention_mask"].sum())
    assert long["input_ids"].shape == (1, 256)
    assert short["attention_mask"].all() and short["input_ids"][0, 0] == 128000
    assert torch.equal(short["input_ids"][0], long["input_ids"][0, -n : -n + 8])
    with pytest.raises(ValueError, match="seq_len"):
        loader.load_inputs(seq_len=0)
    with pytest.raises(ValueError, match="mode"):
        loader.load_inputs(mode="train")


@pytest.fixture(scope="module")
def narrow_1b():
    loader = ModelLoader()
    return loader, loader.load_model(weights="random", num_layers=2, **NARROW)


def test_padded_rows_compute_what_the_bare_prompt_computes(narrow_1b, quiet):
    loader, model = narrow_1b
    inputs = loader.load_inputs(batch_size=2, seq_len=64)
    real = inputs["attention_mask"][0].bool()
    with torch.no_grad():
        padded = model(**inputs).logits
        bare = model(input_ids=inputs["input_ids"][:1, real]).logits
    assert torch.isfinite(padded).all()
    torch.testing.assert_close(padded[0, real], bare[0], rtol=1e-4, atol=1e-4)
    assert loader.unpack_forward_output(model(**inputs)) is not None


# ---- decode steps ------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_inputs_without_weights(dtype, quiet, monkeypatch):
    import tt_forge_models.weights as weights

    loader = ModelLoader()
    with monkeypatch.context() as patch:
        patch.setattr(weights, "load_with_policy", lambda *a, **k: pytest.fail("load_inputs loaded weights"))
        step = loader.load_inputs(mode="decode", batch_size=2, seq_len=32, dtype_override=dtype, num_layers=2, **NARROW)
        again = loader.load_inputs(
            mode="decode", batch_size=2, seq_len=32, dtype_override=dtype, num_layers=2, **NARROW
        )
    cache = step[cache_keyword()]
    assert step["input_ids"].shape == step["position_ids"].shape == (2, 1)
    assert step["attention_mask"].shape == (2, 33)
    assert len(cache.layers) == 2
    for layer, other in zip(cache.layers, again[cache_keyword()].layers):
        assert layer.keys.shape == layer.values.shape == (2, 2, 32, 16)  # (batch, kv_heads, seq, head_dim)
        assert layer.keys.dtype == dtype and torch.equal(layer.keys, other.keys)
    model = loader.load_model(weights="random", num_layers=2, dtype_override=dtype, **NARROW)
    with torch.no_grad():
        logits = model(**step).logits
    assert logits.shape == (2, 1, 128256) and torch.isfinite(logits.float()).all()
    assert cache.get_seq_length() == 33, "a forward appends to the cache in place"


def test_full_size_decode_cache_shapes(quiet):
    step = ModelLoader(ModelVariant.LLAMA_3_1_70B).load_inputs(mode="decode", seq_len=4, num_layers=1)
    assert step[cache_keyword()].layers[0].keys.shape == (1, 8, 4, 128)


def test_decode_step_from_the_model_continues_the_prompt(narrow_1b, quiet):
    """The cached step computes what a full forward over prompt + token computes at that token."""
    loader, model = narrow_1b
    prefill = loader.load_inputs(batch_size=2, seq_len=48)
    step = loader.load_decode_inputs(model, batch_size=2, seq_len=48)
    assert step[cache_keyword()].get_seq_length() == 48
    full = {
        "input_ids": torch.cat([prefill["input_ids"], step["input_ids"]], dim=1),
        "attention_mask": step["attention_mask"],
        "use_cache": False,
    }
    full["position_ids"] = torch.cat([prefill["position_ids"], step["position_ids"]], dim=1)
    with torch.no_grad():
        expected = model(**full).logits[:, -1]
        got = model(**step).logits[:, -1]
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


# ---- decode_output -----------------------------------------------------------------------------


def test_decode_output_greedy_generation_matches_transformers(narrow_1b, quiet):
    loader, model = narrow_1b
    inputs = loader.load_inputs(batch_size=2, seq_len=40)
    with torch.no_grad():
        outputs = model(**inputs)
    one = loader.decode_output(outputs)
    assert one == [[int(t)] for t in outputs.logits[:, -1].argmax(-1)]
    generated = loader.decode_output(outputs, model=model, inputs=inputs, max_new_tokens=5)
    reference = model.generate(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        max_new_tokens=5,
        do_sample=False,
        pad_token_id=128001,
    )[:, 40:]
    assert generated == reference.tolist()
    assert generated[0][0] == one[0][0]
    assert len(loader.decode_output(outputs, model=model, inputs=inputs)) == 2
    with pytest.raises(TypeError, match="model= and inputs="):
        loader.decode_output(outputs, model=model)


# ---- multi-device ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, n, shape",
    [
        (ModelVariant.LLAMA_3_2_1B_INSTRUCT, 1, (1, 1)),
        (ModelVariant.LLAMA_3_2_1B_INSTRUCT, 8, (1, 8)),
        (ModelVariant.LLAMA_3_1_70B, 4, (1, 4)),
        (ModelVariant.LLAMA_3_1_70B, 8, (2, 4)),
        (ModelVariant.LLAMA_3_3_70B_INSTRUCT, 16, (2, 8)),
        (ModelVariant.TINYLLAMA_V1_1, 4, (1, 4)),
    ],
)
def test_mesh_config(variant, n, shape):
    assert ModelLoader(variant).get_mesh_config(n) == (shape, ("batch", "model"))


@pytest.mark.parametrize(
    "variant, n, error, match",
    [
        (ModelVariant.LLAMA_3_2_1B_INSTRUCT, 3, ValueError, r"num_devices=3 .*valid num_devices: 1, 2, 4, 8\b"),
        (ModelVariant.LLAMA_3_2_1B_INSTRUCT, 16, ValueError, "num_key_value_heads=8"),
        (ModelVariant.TINYLLAMA_V1_1, 8, ValueError, "num_key_value_heads=4"),
        (ModelVariant.LLAMA_3_1_70B, 0, ValueError, ">= 1"),
        (ModelVariant.LLAMA_3_1_70B, 2.0, TypeError, "int"),
        (ModelVariant.LLAMA_3_1_70B, True, TypeError, "int"),
    ],
)
def test_mesh_config_rejects(variant, n, error, match):
    with pytest.raises(error, match=match):
        ModelLoader(variant).get_mesh_config(n)


@pytest.mark.parametrize("variant", [ModelVariant.LLAMA_3_2_1B, ModelVariant.LLAMA_3_1_8B])
def test_shard_spec(variant):
    loader = ModelLoader(variant)
    model = loader.load_model(device="meta", num_layers=2)
    spec = loader.load_shard_plan(model)
    assert set(spec) == {name for name, _ in model.named_parameters()}
    by_tensor = loader.load_shard_spec(model)  # upstream's form: the same, keyed by the tensors
    assert {id(t): p for t, p in by_tensor.items()} == {id(t): spec[n] for n, t in model.named_parameters()}
    layer = "model.layers.1"
    for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.up_proj"):
        assert spec[f"{layer}.{name}.weight"] == ("model", None)
    for name in ("self_attn.o_proj", "mlp.down_proj"):
        assert spec[f"{layer}.{name}.weight"] == (None, "model")
    assert spec[f"{layer}.input_layernorm.weight"] == (None,)
    assert spec["model.norm.weight"] == (None,)
    assert spec["model.embed_tokens.weight"] == (None, None)
    if model.config.tie_word_embeddings:
        assert "lm_head.weight" not in spec  # one tensor, under the embedding's name: replicated
    else:
        assert spec["lm_head.weight"] == ("model", None)
    fsdp = loader.load_shard_plan(model, strategy="fsdp", batch_axis="data")
    assert fsdp[f"{layer}.self_attn.q_proj.weight"] == ("model", "data")
    assert fsdp[f"{layer}.mlp.down_proj.weight"] == ("data", "model")
    assert fsdp["model.embed_tokens.weight"] == (None, "data") and fsdp["model.norm.weight"] == ("data",)
