"""GPT-2: a Hugging Face family on the causal-LM task base as a table row, its config key for
depth (``n_layer``) included."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from tt_forge_models.gpt2.pytorch import ModelLoader
from tt_forge_models.tasks.generation import cut_at_eos

pytestmark = pytest.mark.filterwarnings("ignore::tt_forge_models.PreprocessorFallbackWarning")


def test_shipped_config_is_the_published_architecture():
    loader = ModelLoader()
    with open(loader.source.config_file) as f:
        shipped = json.load(f)
    assert (shipped["n_layer"], shipped["n_embd"], shipped["n_head"], shipped["n_positions"]) == (12, 768, 12, 1024)
    assert shipped["vocab_size"] == 50257 and shipped["activation_function"] == "gelu_new"
    assert loader.load_config(num_layers=3).n_layer == 3
    with pytest.raises(ValueError, match=r"num_layers .* must be >= 1 and <= 12, got 13"):
        loader.load_config(num_layers=13)


def test_greedy_generation_matches_transformers():
    loader = ModelLoader()
    model = loader.load_model(weights="random", num_layers=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = loader.load_inputs(batch_size=2, seq_len=64)
    assert inputs["attention_mask"][0, 0] == 0, "left-padded"
    generated = loader.decode_output(None, model=model, inputs=inputs, max_new_tokens=4)
    reference = model.generate(
        input_ids=inputs["input_ids"],
        attention_mask=inputs["attention_mask"],
        max_new_tokens=4,
        do_sample=False,
        pad_token_id=50256,
    )[:, 64:]
    assert generated == [cut_at_eos(row, [50256]) for row in reference.tolist()]
    decode = loader.load_inputs_decode(batch_size=2, num_layers=1)
    with torch.no_grad():
        assert model(**decode).logits.shape == (2, 1, 50257)
