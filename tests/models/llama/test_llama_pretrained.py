"""Pretrained Llama weights without the gated hub: a reduced checkpoint laid out as the Hugging Face
cache at the pinned revision loads as ``"pretrained"``, and a ``save_pretrained`` folder loads as
``weights=<folder>``, each giving back exactly the saved tensors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch

from tt_forge_models import CorruptWeightsError, PreprocessorFallbackWarning, WeightsUnavailableError
from tt_forge_models.llama import ModelLoader
from tt_forge_models.tasks.causal_lm import PROMPT

NARROW = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16)


@pytest.fixture(scope="module")
def reduced_model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        return ModelLoader().load_model(weights="random", seed=11, num_layers=2, **NARROW)


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_pretrained_from_the_hub_cache_at_the_pinned_revision(tmp_path, reduced_model):
    loader = ModelLoader()
    row = loader.get_variant_config()
    repo = "models--" + row.pretrained_model_name.replace("/", "--")
    snapshot = tmp_path / "hub" / repo / "snapshots" / row.weights.revision
    reduced_model.save_pretrained(snapshot)
    expected = tmp_path / "expected.safetensors"
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in reduced_model.state_dict().items() if k != "lm_head.weight"}, expected)
    code = textwrap.dedent(
        f"""
        import json, warnings
        import torch
        from safetensors.torch import load_file
        from tt_forge_models import WeightsFallbackWarning
        from tt_forge_models.llama import ModelLoader

        expected = load_file({str(expected)!r})
        narrow = dict(num_layers=2, **{NARROW!r})  # the cache is checked against the variant
        report = {{}}
        for weights in ("pretrained", "auto"):
            loader = ModelLoader()
            with warnings.catch_warnings():
                warnings.simplefilter("error", WeightsFallbackWarning)
                model = loader.load_model(weights=weights, **narrow)
            state = model.state_dict()
            report[weights] = {{
                "source": loader.weights_source,
                "exact": all(torch.equal(state[k], v) for k, v in expected.items()),
                "tied": model.lm_head.weight is model.model.embed_tokens.weight,
                "layers": model.config.num_hidden_layers,
            }}
        model = ModelLoader().load_model(weights="pretrained", dtype_override=torch.bfloat16, **narrow)
        report["bf16"] = sorted({{str(t.dtype) for t in list(model.parameters()) + list(model.buffers())}})
        print("RESULT " + json.dumps(report))
        """
    )
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "TT_FORGE_MODELS_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    report = json.loads(line.removeprefix("RESULT "))
    for weights in ("pretrained", "auto"):
        assert report[weights] == {"source": "pretrained", "exact": True, "tied": True, "layers": 2}
    assert report["bf16"] == ["torch.bfloat16"], "every floating tensor, RoPE buffers too"


def test_save_pretrained_folder_as_weights(tmp_path, reduced_model):
    reduced_model.save_pretrained(tmp_path / "ckpt")
    loader = ModelLoader()
    with pytest.raises(CorruptWeightsError, match="hidden_size 64 .variant: 2048."):
        loader.load_model(weights=tmp_path / "ckpt")  # a narrower Llama than the variant's
    model = loader.load_model(weights=tmp_path / "ckpt", num_layers=2, **NARROW)
    assert loader.weights_source == f"local:{tmp_path / 'ckpt'}"
    assert _same_weights(model, reduced_model) and not model.training
    assert model.lm_head.weight is model.model.embed_tokens.weight
    cut = loader.load_model(weights=str(tmp_path / "ckpt"), num_layers=1, dtype_override=torch.bfloat16, **NARROW)
    assert cut.config.num_hidden_layers == 1
    assert torch.equal(cut.model.embed_tokens.weight, reduced_model.model.embed_tokens.weight.bfloat16())


def test_gated_model_offline_names_the_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loader = ModelLoader("llama_3_2_3b_instruct")
    with pytest.raises(WeightsUnavailableError) as err:
        loader.load_model(weights="pretrained", num_layers=1)
    message = str(err.value)
    assert "llama_3_2_3b_instruct" in message and "0cb88a4f764b7a12671c53f0838cd831a0843b95" in message
    assert "token" in message and "weights='random'" in message


def _word_level_tokenizer(size: int):
    """A real tokenizers-backed tokenizer with TinyLlama's specials and ``size`` tokens, holding
    every word of the prompt (stands in for the real one, which this suite cannot download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = sorted(set(PROMPT.replace(".", " . ").replace(",", " , ").split()))
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for word in words + [f"filler{i}" for i in range(size)]:
        if len(vocab) == size:
            break
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


@pytest.mark.parametrize("size, trusted", [(32000, True), (100, False)])
def test_tokenizer_from_the_cache_is_verified_before_use(tmp_path, size, trusted):
    loader = ModelLoader("tinyllama_v1_1")
    row = loader.get_variant_config()
    snapshot = tmp_path / "hub" / "models--TinyLlama--TinyLlama_v1.1" / "snapshots" / row.weights.revision
    _word_level_tokenizer(size).save_pretrained(snapshot)
    loader.load_config().save_pretrained(snapshot)  # the hub repo has one; AutoTokenizer reads it
    code = textwrap.dedent(
        """
        import json, warnings
        import torch
        from tt_forge_models import PreprocessorFallbackWarning
        from tt_forge_models.llama import ModelLoader

        loader = ModelLoader("tinyllama_v1_1")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            inputs = loader.load_inputs(seq_len=64)
        fallbacks = [str(w.message) for w in caught if issubclass(w.category, PreprocessorFallbackWarning)]
        model = loader.load_model(weights="random", num_layers=1, hidden_size=64, intermediate_size=128,
                                  num_attention_heads=4, num_key_value_heads=2)
        with torch.no_grad():
            outputs = model(**inputs)
        text = loader.decode_output(outputs, model=model, inputs=inputs, max_new_tokens=3)
        ids = inputs["input_ids"][0][inputs["attention_mask"][0].bool()].tolist()
        print("RESULT " + json.dumps({"fallbacks": fallbacks, "ids": ids, "decoded": text}))
        """
    )
    env = {**os.environ, "HF_HOME": str(tmp_path), "HF_HUB_OFFLINE": "1", "TT_FORGE_MODELS_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")).removeprefix("RESULT "))
    assert report["ids"][0] == 1
    if trusted:
        expected = _word_level_tokenizer(size)(PROMPT)
        assert report["fallbacks"] == [] and report["ids"] == expected["input_ids"]
        assert all(isinstance(row, str) for row in report["decoded"])
    else:
        assert len(report["fallbacks"]) == 1 and "100 tokens" in report["fallbacks"][0]
        assert all(isinstance(row, list) for row in report["decoded"])
