"""One real-width forward: Llama-3.2-1B-Instruct, cut to two decoder layers, fp32, on the prompt
at the default 128 tokens. About 9 s on 2 quiet cores: building its 384 M parameters takes 4 s and
the forward 4.5 s, mostly the 128,256-wide head; 14-25 s when other work shares the machine."""

from __future__ import annotations

import warnings

import torch

from tt_forge_models import PreprocessorFallbackWarning
from tt_forge_models.llama import ModelLoader, ModelVariant


def test_llama_3_2_1b_two_layers_real_width_forward():
    loader = ModelLoader(ModelVariant.LLAMA_3_2_1B_INSTRUCT)
    model = loader.load_model(weights="random", num_layers=2)
    assert sum(p.numel() for p in model.parameters()) == 262_668_288 + 2 * 60_821_504 + 2048
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        inputs = loader.load_inputs()
    with torch.no_grad():
        outputs = loader.call_model(model, inputs)
    logits = loader.unpack_forward_output(outputs)
    assert logits.shape == (1, 128, 128256) and logits.dtype == torch.float32
    assert torch.isfinite(logits).all()
    # Random weights at N(0, 0.02): logits are small but not degenerate.
    assert 0 < logits[0, -1].std() < 10
    decoded = loader.decode_output(outputs)
    assert len(decoded) == 1 and len(decoded[0]) == 1
