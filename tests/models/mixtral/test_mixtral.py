"""Mixtral on the causal-LM base: the published architectures, reduced builds that keep the sparse
layer whole (8 experts, top-2) below the ``large`` mark, routing that depends on the data and a
dispatch that computes each token's two experts, the expert-parallel layout and its meshes, decode
and generation, and the hub's per-expert checkpoint layout loading into the fused experts."""

from __future__ import annotations

import json
import textwrap
import warnings

import pytest
import torch
import torch.nn.functional as F

from tt_forge_models.mixtral import ModelLoader, ModelVariant
from tt_forge_models.testing import LARGE_PARAMS, all_variants, reduced_kwargs

from helpers import run_python

pytestmark = pytest.mark.filterwarnings("ignore::tt_forge_models.PreprocessorFallbackWarning")

# hidden, layers, heads, KV heads, experts, top-k, expert width, vocabulary, positions
PUBLISHED = {
    ModelVariant.MIXTRAL_8X7B: (4096, 32, 32, 8, 8, 2, 14336, 32000, 32768),
    ModelVariant.MIXTRAL_8X22B: (6144, 56, 48, 8, 8, 2, 16384, 32000, 65536),
}
ENTRIES = {p.values[0].variant: p.values[0] for p in all_variants(model="mixtral", large_params=float("inf"))}


def _reduced(variant, **options):
    loader = ModelLoader(variant)
    return loader, loader.load_model(weights="random", **reduced_kwargs(ENTRIES[str(variant)]), **options)


@pytest.mark.parametrize("variant", list(PUBLISHED))
def test_published_architecture_and_every_layer_sparse(variant):
    loader = ModelLoader(variant)
    c = loader.load_config()
    shape = (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads)
    shape += (c.num_local_experts, c.num_experts_per_tok, c.intermediate_size, c.vocab_size)
    assert shape + (c.max_position_embeddings,) == PUBLISHED[variant]
    assert c.sliding_window is None and c.rope_parameters["rope_theta"] == 1e6 and not c.tie_word_embeddings
    full = loader.load_model(device="meta")
    kinds = {type(layer.mlp).__name__ for layer in full.model.layers}
    assert kinds == {"MixtralSparseMoeBlock"}, "every layer is sparse: one layer reaches a sparse one"


@pytest.mark.parametrize("variant", list(PUBLISHED))
def test_reduced_build_keeps_the_sparse_layer_whole_below_large(variant):
    entry = ENTRIES[str(variant)]
    test = entry.config.test
    assert test.num_layers == 1 and set(test.overrides) == {"hidden_size", "intermediate_size"}
    assert test.num_params < LARGE_PARAMS, "runs in the default suite"
    model = ModelLoader(variant).load_model(device="meta", **reduced_kwargs(entry))
    assert sum(p.numel() for p in model.parameters()) == test.num_params
    (layer,) = model.model.layers
    moe, c = layer.mlp, model.config
    assert (moe.gate.top_k, moe.gate.num_experts, moe.experts.num_experts) == (2, 8, 8)
    assert (c.num_attention_heads, c.num_key_value_heads) == PUBLISHED[variant][2:4], "published head counts"
    assert c.hidden_size // c.num_attention_heads == 16
    hidden, width = c.hidden_size, c.intermediate_size
    assert moe.experts.gate_up_proj.shape == (8, 2 * width, hidden)
    assert moe.experts.down_proj.shape == (8, hidden, width)
    assert width / hidden == pytest.approx(PUBLISHED[variant][6] / PUBLISHED[variant][0], rel=0.01)


def _moe_by_hand(moe, hidden):
    """Each token through its top-2 experts, one at a time: softmax router, the two largest
    probabilities renormalised, expert e = down_e(silu(gate_e x) * up_e x), where gate_up_proj[e]
    holds the gate rows and then the up rows."""
    x = hidden.reshape(-1, hidden.shape[-1])
    probs = F.softmax(F.linear(x, moe.gate.weight).float(), dim=-1)
    weights, chosen = probs.topk(2, dim=-1)
    weights = weights / weights.sum(-1, keepdim=True)
    width = moe.experts.intermediate_dim
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for k in range(2):
            e = int(chosen[t, k])
            gate_up = moe.experts.gate_up_proj[e]
            h = F.silu(gate_up[:width] @ x[t]) * (gate_up[width:] @ x[t])
            out[t] += weights[t, k] * (moe.experts.down_proj[e] @ h)
    return out.reshape(hidden.shape), chosen


def test_routing_depends_on_the_data_and_the_dispatch_computes_each_tokens_experts():
    loader, model = _reduced(ModelVariant.MIXTRAL_8X7B, seed=3)
    moe = model.model.layers[0].mlp
    seen = []
    moe.gate.register_forward_hook(lambda module, args, out: seen.append(out[2].clone()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prompt = loader.load_inputs(seq_len=48)
    other = dict(prompt, input_ids=prompt["input_ids"].flip(-1), attention_mask=torch.ones_like(prompt["input_ids"]))
    other["position_ids"] = torch.arange(48)[None]
    with torch.no_grad():
        model(**prompt)
        model(**other)
    first, second = seen
    assert first.shape == (48, 2), "two experts per token"
    assert len(first.unique()) > 2, "tokens of one input go to different experts"
    assert not torch.equal(first, second), "a different input is routed differently"
    hidden = torch.randn(1, 12, model.config.hidden_size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected, chosen = _moe_by_hand(moe, hidden)
        torch.testing.assert_close(moe(hidden), expected, atol=1e-5, rtol=1e-4)
    assert len(chosen.unique()) > 2


@pytest.mark.parametrize("variant", list(PUBLISHED))
def test_expert_parallel_layout_and_its_meshes(variant):
    loader = ModelLoader(variant)
    model = loader.load_model(device="meta")  # full size, shapes only
    plan = loader.load_shard_plan(model)
    layer = "model.layers.0."
    assert plan[layer + "self_attn.q_proj.weight"] == ("model", None)
    assert plan[layer + "self_attn.k_proj.weight"] == plan[layer + "self_attn.v_proj.weight"] == ("model", None)
    assert plan[layer + "self_attn.o_proj.weight"] == (None, "model")
    assert plan[layer + "mlp.experts.gate_up_proj"] == plan[layer + "mlp.experts.down_proj"] == ("model", None, None)
    assert plan[layer + "mlp.gate.weight"] == (None, None), "the router sees every expert"
    assert plan["lm_head.weight"] == ("model", None) and plan["model.embed_tokens.weight"] == (None, None)
    fsdp = loader.load_shard_plan(model, strategy="fsdp", batch_axis="data")
    assert fsdp[layer + "mlp.experts.down_proj"] == ("model", None, "data")
    params = dict(model.named_parameters())
    for n, shape in [(1, (1, 1)), (2, (1, 2)), (4, (1, 4)), (8, (1, 8)), (32, (4, 8))]:
        assert loader.get_mesh_config(n) == (shape, ("batch", "model"))
        for strategy in ("megatron", "fsdp"):
            for name, placement in loader.load_shard_plan(model, strategy=strategy).items():
                for size, axis in zip(params[name].shape, placement):
                    assert axis is None or size % shape[("batch", "model").index(axis)] == 0, (n, name)
    with pytest.raises(ValueError, match=r"num_local_experts=8.*valid num_devices: 1, 2, 4, 8, 32"):
        loader.get_mesh_config(16)
    spec = loader.load_shard_spec(model)
    assert spec[model.model.layers[0].mlp.experts.gate_up_proj] == ("model", None, None)


def test_dtensor_plan_refuses_expert_placements():
    from tt_forge_models.parallel import tensor_parallel_plan

    loader = ModelLoader()
    model = loader.load_model(device="meta", num_layers=1)
    with pytest.raises(ValueError, match=r"experts.gate_up_proj.*expert parallelism.*mark_sharding"):
        tensor_parallel_plan(model, loader.load_shard_plan(model))
    attention_only = {k: v for k, v in loader.load_shard_plan(model).items() if "experts" not in k}
    assert set(tensor_parallel_plan(model, attention_only)) >= {"model.layers.0.self_attn.o_proj", "lm_head"}


def test_decode_step_and_generation_match_transformers():
    loader, model = _reduced(ModelVariant.MIXTRAL_8X7B)
    entry = ENTRIES["mixtral_8x7b"]
    step = loader.load_inputs_decode(batch_size=2, **reduced_kwargs(entry))
    layer = step["cache"].layers[0]
    assert layer.keys.shape == (2, 8, 128, 16) and step["attention_mask"].shape == (2, 129)
    with torch.no_grad():
        assert model(**step).logits.shape == (2, 1, 32000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = loader.load_inputs(batch_size=2, seq_len=32)
    generated = loader.decode_output(None, model=model, inputs=inputs, max_new_tokens=4)
    reference = model.generate(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        max_new_tokens=4,
        do_sample=False,
        pad_token_id=2,
    )[:, 32:]
    assert generated == [[t for t in row if t != 2] for row in reference.tolist()]


NARROW = dict(hidden_size=64, intermediate_size=96, num_attention_heads=4, num_key_value_heads=2)


def test_the_hubs_per_expert_checkpoint_loads_into_the_fused_experts(tmp_path):
    """save_pretrained writes the hub's layout (``block_sparse_moe.experts.<e>.w1/w2/w3``); the
    pinned revision in a private cache loads back, through transformers' conversion, into exactly
    the fused ``gate_up_proj``/``down_proj`` saved."""
    loader = ModelLoader()
    model = loader.load_model(weights="random", seed=2, num_layers=1, **NARROW)
    snapshot = tmp_path / "hub" / "models--mistralai--Mixtral-8x7B-v0.1" / "snapshots"
    snapshot = snapshot / loader.get_variant_config().weights.revision
    model.save_pretrained(snapshot)
    from safetensors import safe_open

    with safe_open(snapshot / "model.safetensors", "pt") as f:
        keys = set(f.keys())
    assert "model.layers.0.block_sparse_moe.experts.7.w3.weight" in keys and not any("gate_up" in k for k in keys)
    expected = tmp_path / "expected.pt"
    torch.save(model.state_dict(), expected)
    out = run_python(
        f"""
        import json, torch
        from tt_forge_models.mixtral import ModelLoader
        loader = ModelLoader()
        model = loader.load_model(weights="pretrained", num_layers=1, **{NARROW!r})
        expected, state = torch.load({str(expected)!r}, weights_only=True), model.state_dict()
        print("RESULT " + json.dumps({{
            "source": loader.weights_source,
            "keys": sorted(expected) == sorted(state),
            "exact": all(torch.equal(state[k], v) for k, v in expected.items()),
        }}))
        """,
        env={"HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"},
    ).stdout
    report = json.loads(textwrap.dedent(next(ln for ln in out.splitlines() if ln.startswith("RESULT ")))[7:])
    assert report == {"source": "pretrained", "keys": True, "exact": True}
