"""T5 on the encoder-decoder task base: the published architectures, the first and decode steps,
the cached decode step against a full recompute, greedy generation against transformers',
T5's own random init, the relative-position buckets in bf16, and real weights and tokenizer read
from a Hugging Face cache the test fills itself with the hub off."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import tt_forge_models
from tt_forge_models import PreprocessorFallbackWarning
from tt_forge_models.config import ModelTask
from tt_forge_models.t5.pytorch import ModelLoader, ModelVariant
from tt_forge_models.tasks.generation import cut_at_eos
from tt_forge_models.tasks.text_to_text import PROMPTS

from helpers import run_python

PACKAGE_ROOT = str(Path(tt_forge_models.__path__[0]).parent)
EOS, PAD = 1, 0

pytestmark = pytest.mark.filterwarnings("ignore::tt_forge_models.PreprocessorFallbackWarning")


def _quiet(call, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return call(*args, **kwargs)


@pytest.fixture(scope="module")
def flan():
    """flan-t5-base's reduced build (2 + 2 layers, untied head, gated GELU), seeded random."""
    loader = ModelLoader(ModelVariant.FLAN_T5_BASE)
    return loader, loader.load_model(weights="random", num_layers=2)


# ---- the architectures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "variant, task, shape, gated, tied",
    [
        (ModelVariant.SMALL, ModelTask.NLP_TRANSLATION, (512, 2048, 8, 6, 6), False, True),
        (ModelVariant.FLAN_T5_BASE, ModelTask.NLP_SUMMARIZATION, (768, 2048, 12, 12, 12), True, False),
        (ModelVariant.FLAN_T5_LARGE, ModelTask.NLP_SUMMARIZATION, (1024, 2816, 16, 24, 24), True, False),
    ],
)
def test_shipped_configs_are_the_published_architectures(variant, task, shape, gated, tied):
    loader = ModelLoader(variant)
    assert loader.get_model_info().task == task
    with open(loader.source.config_file) as f:
        shipped = json.load(f)
    config = loader.load_config()
    assert (config.d_model, config.d_ff, config.num_heads, config.num_layers, config.num_decoder_layers) == shape
    assert (config.vocab_size, config.d_kv, config.relative_attention_num_buckets) == (32128, 64, 32)
    assert config.is_gated_act == gated and shipped.get("tie_word_embeddings", True) == tied
    # t5-small scales the decoder's output before its tied head; flan-t5 has a head of its own
    assert config.scale_decoder_outputs == tied
    model = loader.load_model(device="meta")
    assert (model.lm_head.weight is model.shared.weight) == tied
    assert model.encoder.embed_tokens.weight is model.shared.weight is model.decoder.embed_tokens.weight
    assert sum(p.numel() for p in model.parameters()) == loader.get_variant_config().num_params
    cut = loader.load_model(device="meta", num_layers=2)  # num_layers= cuts both stacks
    assert len(cut.encoder.block) == len(cut.decoder.block) == 2
    assert sum(p.numel() for p in cut.parameters()) == loader.get_variant_config().test.num_params


def test_random_init_is_t5s_own_with_each_tensor_drawn_once(flan):
    """Transformers initialises T5's Linears twice (the generic Linear rule, then T5Attention's and
    the feed-forward block's own std): ours keeps the value it leaves, drawn once."""
    loader, model = flan
    d_model, d_kv, heads, d_ff = 768, 64, 12, 2048
    expected = {
        "SelfAttention.q.weight": (d_model * d_kv) ** -0.5,
        "SelfAttention.k.weight": d_model**-0.5,
        "SelfAttention.o.weight": (heads * d_kv) ** -0.5,
        "EncDecAttention.v.weight": d_model**-0.5,
        "DenseReluDense.wi_0.weight": d_model**-0.5,
        "DenseReluDense.wo.weight": d_ff**-0.5,
        "shared.weight": 1.0,
        "lm_head.weight": 1.0,  # flan's own head, drawn as T5 draws an untied one
    }
    params = dict(model.named_parameters())
    for suffix, std in expected.items():
        for name in [n for n in params if n.endswith(suffix)]:
            assert abs(params[name].std().item() / std - 1) < 0.03, (name, params[name].std().item(), std)
    for name in [n for n in params if "layer_norm" in n]:
        assert torch.equal(params[name], torch.ones_like(params[name])), name
    assert not any(hasattr(p, "_is_hf_initialized") for p in model.parameters())

    # The check can fail: keeping the first write leaves the generic rule's std of 1.0.
    source = loader.source
    source.last_init_write_wins = False
    try:
        first = source.build_random(dtype=torch.float32, seed=0, num_layers=1)
    finally:
        source.last_init_write_wins = True
    assert abs(first.encoder.block[0].layer[0].SelfAttention.q.weight.std().item() - 1.0) < 0.03


def test_last_write_wins_init_is_transformers_own_where_one_module_writes_each_tensor():
    """The dry run reads no generator and skips nothing a single module writes: on an untied
    Llama every tensor equals transformers' own init, value for value."""
    import transformers

    from tt_forge_models.llama.pytorch import ModelLoader as Llama
    from tt_forge_models.weights.huggingface import init_once_
    from tt_forge_models.weights.materialize import build_random

    config = Llama().load_config(
        num_layers=2,
        tie_word_embeddings=False,
        vocab_size=1000,
        bos_token_id=1,
        eos_token_id=2,
        hidden_size=64,
        intermediate_size=128,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
    )
    ours, theirs = (
        build_random(lambda: transformers.LlamaForCausalLM(config), dtype=None, init=init, buffers_on_meta=True)
        for init in (lambda model: init_once_(model, last_write_wins=True), lambda model: model.initialize_weights())
    )
    b = dict(theirs.named_parameters())
    assert all(torch.equal(p, b[name]) for name, p in ours.named_parameters())


def test_last_write_wins_keeps_a_parents_computed_values():
    """Whisper's encoder copies sinusoids into its position table after the Embedding's own normal
    draw (reading the table's shape to compute them): the first write would keep the noise."""
    import transformers
    from transformers.models.whisper.modeling_whisper import sinusoids

    from tt_forge_models.weights.huggingface import init_once_
    from tt_forge_models.weights.materialize import build_random

    ids = {"pad_token_id": 1, "bos_token_id": 1, "eos_token_id": 2, "decoder_start_token_id": 1}
    config = transformers.WhisperConfig(
        d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=16, decoder_ffn_dim=16, vocab_size=50, max_source_positions=20, **ids,
    )  # fmt: skip
    for last, expected in ((True, True), (False, False)):
        model = build_random(
            lambda: transformers.WhisperForConditionalGeneration(config),
            dtype=None,
            init=lambda m: init_once_(m, last_write_wins=last),
            buffers_on_meta=True,
        )
        table = model.model.encoder.embed_positions.weight
        assert torch.allclose(table, sinusoids(*table.shape)) == expected


# ---- inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", list(ModelVariant))
def test_first_step_is_the_prompt_and_the_decoder_start_with_one_fallback_warning(variant):
    loader = ModelLoader(variant)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = loader.load_inputs(batch_size=3)
    assert [w.category for w in caught] == [PreprocessorFallbackWarning]
    assert set(inputs) == {"input_ids", "attention_mask", "decoder_input_ids", "use_cache"}
    ids = inputs["input_ids"]
    words = len(PROMPTS[loader.get_model_info().task].split())
    assert ids.shape[0] == 3 and words < ids.shape[1] < 2 * words and torch.equal(ids[0], ids[2])
    assert (ids[:, -1] == EOS).all() and ((ids[:, :-1] >= 3) & (ids[:, :-1] < 32000)).all()
    assert torch.equal(inputs["attention_mask"], torch.ones_like(ids))
    assert torch.equal(inputs["decoder_input_ids"], torch.full((3, 1), PAD))  # decoder_start_token_id
    assert inputs["use_cache"] is False
    assert torch.equal(_quiet(loader.load_inputs, batch_size=3)["input_ids"], ids)
    with pytest.raises(TypeError, match="num_layers"):
        loader.load_inputs(num_layers=2)
    with pytest.raises(ValueError, match="unknown mode 'generate'"):
        loader.load_inputs(mode="generate")


def test_decode_step_holds_an_encoder_decoder_cache_of_the_right_shapes():
    from transformers import DynamicCache, EncoderDecoderCache

    loader = ModelLoader(ModelVariant.FLAN_T5_BASE)
    first = _quiet(loader.load_inputs, batch_size=2)
    length = first["input_ids"].shape[1]
    step = _quiet(loader.load_inputs, mode="decode", batch_size=2, num_layers=2, dtype_override=torch.bfloat16)
    assert set(step) == {"decoder_input_ids", "encoder_outputs", "attention_mask", "cache"}
    assert step["decoder_input_ids"].shape == (2, 1) and step["decoder_input_ids"].dtype == torch.long
    (hidden,) = step["encoder_outputs"]
    assert hidden.shape == (2, length, 768) and hidden.dtype == torch.bfloat16
    assert torch.equal(step["attention_mask"], first["attention_mask"])
    cache = step["cache"]
    assert isinstance(cache, EncoderDecoderCache) and isinstance(cache.self_attention_cache, DynamicCache)
    own, cross = cache.self_attention_cache.layers, cache.cross_attention_cache.layers
    assert len(own) == len(cross) == 2 and all(cache.is_updated.values())
    for layer in own:
        assert layer.keys.shape == layer.values.shape == (2, 12, 1, 64) and layer.keys.dtype == torch.bfloat16
    for layer in cross:
        assert layer.keys.shape == (2, 12, length, 64) and layer.values.dtype == torch.bfloat16
    longer = _quiet(loader.load_inputs, mode="decode", num_layers=2, seq_len=5)["cache"]
    assert longer.get_seq_length() == 5
    full = _quiet(loader.load_inputs_decode)["cache"]  # upstream's name, the full depth by default
    assert len(full.self_attention_cache.layers) == 12
    again = _quiet(loader.load_inputs, mode="decode", batch_size=2, num_layers=2, dtype_override=torch.bfloat16)
    assert torch.equal(again["cache"].cross_attention_cache.layers[1].keys, cross[1].keys), "deterministic"


def test_the_runners_decode_phase_on_the_full_model():
    """tt-xla's RunPhase.LLM_DECODE: ``load_model(dtype_override=bf16)`` at full depth, then
    ``load_inputs_decode(dtype_override=bf16, batch_size=1)``."""
    loader = ModelLoader(ModelVariant.SMALL)
    model = loader.load_model(dtype_override=torch.bfloat16, weights="random")
    step = _quiet(loader.load_inputs_decode, dtype_override=torch.bfloat16, batch_size=1)
    with torch.no_grad():
        out = model(**step)
    assert out.logits.shape == (1, 1, 32128) and torch.isfinite(out.logits.float()).all()
    assert out.cache.get_seq_length() == 2, "the step appended to the self-attention cache"


# ---- decoding and generation ---------------------------------------------------------------------


def test_the_cached_step_equals_a_full_recompute(flan):
    loader, model = flan
    first = _quiet(loader.load_inputs, batch_size=2)
    step = loader.load_decode_inputs(model, batch_size=2)
    with torch.no_grad():
        logits = model(**first).logits
        assert torch.equal(step["decoder_input_ids"][:, 0], logits[:, -1].argmax(-1))
        cached = model(**step).logits[:, -1]
        decoder = torch.cat([first["decoder_input_ids"], step["decoder_input_ids"]], dim=1)
        full = model(input_ids=first["input_ids"], attention_mask=first["attention_mask"], decoder_input_ids=decoder)
    torch.testing.assert_close(cached, full.logits[:, -1], rtol=1e-4, atol=1e-3)


def test_greedy_generation_with_the_cache_equals_recompute_and_transformers(flan):
    loader, model = flan
    first = _quiet(loader.load_inputs, batch_size=2)
    steps = 6
    generated = loader.decode_output(None, model=model, inputs=first, max_new_tokens=steps)
    reference = model.generate(
        input_ids=first["input_ids"], attention_mask=first["attention_mask"], max_new_tokens=steps, do_sample=False
    )[:, 1:]
    assert generated == [cut_at_eos(row, [EOS]) for row in reference.tolist()]
    decoder, mask = first["decoder_input_ids"], first["attention_mask"]
    with torch.no_grad():  # no cache: the whole decoder again for every token (the encoder once)
        encoded = (model.encoder(input_ids=first["input_ids"], attention_mask=mask).last_hidden_state,)
        for _ in range(steps):
            out = model(encoder_outputs=encoded, attention_mask=mask, decoder_input_ids=decoder, use_cache=False)
            decoder = torch.cat([decoder, out.logits[:, -1:].argmax(-1)], dim=1)
    assert generated == [cut_at_eos(row, [EOS]) for row in decoder[:, 1:].tolist()]
    assert len(set(generated[0])) > 1, "a random model that repeats one token would prove little"
    # model= alone generates from the loader's own sample
    assert _quiet(loader.decode_output, None, model=model, max_new_tokens=steps) == generated[:1]


def test_decode_output_without_a_model_is_the_next_token(flan):
    loader, model = flan
    inputs = _quiet(loader.load_inputs, batch_size=2)
    with torch.no_grad():
        out = model(**inputs)
    assert loader.unpack_forward_output(out) is out.logits and out.logits.shape == (2, 1, 32128)
    expected = out.logits[:, -1].argmax(-1).tolist()
    assert loader.decode_output(out) == [cut_at_eos([t], [EOS]) for t in expected]
    assert loader.decode_output(out.to_tuple()) == loader.decode_output(out)  # return_dict=False
    with pytest.raises(TypeError, match="decode_output takes"):
        loader.decode_output(None)
    with pytest.raises(TypeError, match="model="):
        loader.decode_output(out, inputs=inputs)


# ---- relative-position buckets -------------------------------------------------------------------


class _Bias(torch.nn.Module):
    def __init__(self, attention, past):
        super().__init__()
        self.attention, self.past = attention, past

    def forward(self, query):  # the bias of query positions past.. over keys 0..past+len
        length = query.shape[1]
        return self.attention.compute_bias(length, self.past + length, past_seen_tokens=self.past)


def test_relative_position_buckets_hold_under_bf16_and_export(flan):
    """The buckets are computed from int64 distances in float32 whatever the model's dtype, so a
    bf16 model's bias is exactly its fp32 table rounded, far beyond max_distance (128) too."""
    loader, model = flan
    bf16 = loader.load_model(weights="random", num_layers=2, dtype_override=torch.bfloat16)
    for stack, past in (("encoder", 0), ("decoder", 40)):
        fp, half = (getattr(m, stack).block[0].layer[0].SelfAttention for m in (model, bf16))
        query = torch.zeros(1, 300)
        bias_fp, bias_half = _Bias(fp, past)(query), _Bias(half, past)(query)
        assert bias_half.dtype == torch.bfloat16 and torch.isfinite(bias_half.float()).all()
        assert torch.equal(bias_half, bias_fp.to(torch.bfloat16)), stack
        positions = torch.arange(past + 300)
        distance = positions[None, :] - positions[past:, None]
        buckets = fp._relative_position_bucket(distance, bidirectional=stack == "encoder")
        assert 0 <= int(buckets.min()) and int(buckets.max()) < 32
        assert len(set(buckets[0, 200:].tolist())) == 1, "distances beyond max_distance share one bucket"
        exported = torch.export.export(_Bias(half, past), (query,), strict=False)
        assert torch.equal(exported.module()(query), bias_half)
    inputs = _quiet(loader.load_inputs, batch_size=1, dtype_override=torch.bfloat16)
    step = _quiet(loader.load_inputs, mode="decode", num_layers=2, seq_len=200, dtype_override=torch.bfloat16)
    with torch.no_grad():
        assert torch.isfinite(bf16(**inputs).logits.float()).all() and torch.isfinite(bf16(**step).logits.float()).all()


def test_a_tokenizer_of_the_embedding_size_is_refused():
    """T5's tokenizer has 32,100 tokens for 32,128 embedding rows: one of exactly 32,128 is not it."""
    from tt_forge_models.inputs.text import tokenizer_problem

    class Fake:
        def __init__(self, size):
            self.size, self.eos_token_id, self.pad_token_id, self.unk_token_id = size, 1, 0, 2

        def __len__(self):
            return self.size

    check = dict(vocab_size=32128, tokenizer_size=32100, special_tokens=("eos_token", "pad_token", "unk_token"))
    assert tokenizer_problem(Fake(32100), **check) is None
    assert "vocabulary of 32100 (32128 embedding rows)" in tokenizer_problem(Fake(32128), **check)
    assert tokenizer_problem(Fake(5), **check) is not None


# ---- real weights and tokenizer from a private cache ---------------------------------------------


def _fill_cache(hub: Path, variant: ModelVariant, vocab: list[tuple[str, float]]) -> Path:
    """A snapshot at the variant's pinned revision: a narrow seeded T5 of its kind (flan's head of
    its own) and a T5 tokenizer of 32,100 tokens whose pieces hold the sample's words."""
    import transformers

    from tt_forge_models.weights.huggingface import untie_output_embeddings_

    row = ModelLoader.get_variant_config(variant)
    org, name = row.pretrained_model_name.split("/")
    repo = hub / f"models--{org}--{name}"
    snapshot = repo / "snapshots" / row.weights.revision
    shipped = json.loads((ModelLoader._loader_dir() / row.weights.config_file).read_text())
    narrow = {"d_model": 32, "d_ff": 64, "num_heads": 2, "d_kv": 16, "num_layers": 2, "num_decoder_layers": 2}
    torch.manual_seed(1)
    model = transformers.T5ForConditionalGeneration(transformers.T5Config(**{**shipped, **narrow}))
    if shipped.get("tie_word_embeddings") is False:
        untie_output_embeddings_(model)
        with torch.no_grad():
            model.lm_head.weight.normal_()
    model.save_pretrained(snapshot)
    transformers.T5Tokenizer(vocab=vocab, extra_ids=100).save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(row.weights.revision)
    return snapshot


def test_pretrained_weights_and_tokenizer_from_a_private_hf_cache(tmp_path):
    from tt_forge_models.inputs.text import pieces

    words = list(dict.fromkeys(w for prompt in PROMPTS.values() for w in pieces(prompt)))
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [("▁" + w, -3.0) for w in words] + [(w, -4.0) for w in words]
    vocab += [(f"▁filler{i}", -20.0) for i in range(32000 - len(vocab))]
    for variant in (ModelVariant.SMALL, ModelVariant.FLAN_T5_BASE):
        _fill_cache(tmp_path / "hub", variant, vocab)
    code = textwrap.dedent(
        """
        import json, sys, warnings
        import torch
        from safetensors.torch import load_file
        from tt_forge_models.t5 import ModelLoader
        report = {}
        for variant, snapshot in zip(("small", "flan_t5_base"), sys.argv[1:]):
            loader = ModelLoader(variant)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = loader.load_model(weights="pretrained", num_layers=2, d_model=32, d_ff=64, num_heads=2, d_kv=16)
                inputs = loader.load_inputs(batch_size=2)
                text = loader.decode_output(None, model=model, inputs=inputs, max_new_tokens=3)
            saved, state = load_file(snapshot + "/model.safetensors"), model.state_dict()
            report[variant] = {
                "source": loader.weights_source,
                "equal": sorted(saved) == sorted(k for k in state if k in saved)
                and all(torch.equal(state[k], v) for k, v in saved.items()),
                "tied": model.lm_head.weight is model.shared.weight,
                "warnings": [w.category.__name__ for w in caught if "Fallback" in w.category.__name__],
                "ids": inputs["input_ids"][0].tolist(),
                "text": text,
            }
        print(json.dumps(report))
        """
    )
    snapshots = [
        str(tmp_path / "hub" / f"models--{org}--{name}" / "snapshots" / rev)
        for org, name, rev in (
            ("google-t5", "t5-small", ModelLoader.get_variant_config("small").weights.revision),
            ("google", "flan-t5-base", ModelLoader.get_variant_config("flan_t5_base").weights.revision),
        )
    ]
    out = run_python(
        f"import sys; sys.argv[1:] = {snapshots!r}\n" + code,
        env={
            "HF_HOME": str(tmp_path),
            "HF_HUB_CACHE": str(tmp_path / "hub"),
            "HF_HUB_OFFLINE": "1",
            "TT_FORGE_MODELS_OFFLINE": "1",
            "PYTHONPATH": PACKAGE_ROOT,
        },
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    import transformers

    tokenizer = transformers.T5Tokenizer(vocab=vocab, extra_ids=100)
    for variant, tied in (("small", True), ("flan_t5_base", False)):
        got = report[variant]
        assert got["source"] == "pretrained" and got["equal"] and got["tied"] == tied, got
        assert got["warnings"] == [], "the cache's own tokenizer, no fallback"
        task = ModelLoader.get_model_info(variant).task
        assert got["ids"] == tokenizer(PROMPTS[task])["input_ids"] and got["ids"][-1] == EOS
        assert len(got["text"]) == 2 and all(isinstance(t, str) for t in got["text"]), got["text"]
        assert got["text"][0] == got["text"][1]
