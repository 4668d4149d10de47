"""A random torchvision build is initialised by its architecture's own recipe: every tensor has the
distribution torchvision's constructor gives it (compared tensor by tensor on the large ones, exactly
on the constants), except a ViT's head, which is drawn instead of zeroed."""

from __future__ import annotations

import math

import pytest
import torch
import torchvision

from tt_forge_models import get_loader

# One variant per architecture class that has a recipe.
CASES = [
    ("vit", "vit_b_16"),
    ("swin", "swin_v2_t"),
    ("convnext", "tiny"),
    ("mobilenetv2", "mobilenet_v2"),
    ("efficientnet", "b0"),
]


def _builds(model, variant):
    loader = get_loader(model)(variant)
    ours = loader.load_model(weights="random", seed=1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = torchvision.models.get_model(loader.get_variant_config().weights.builder, weights=None)
    return ours, reference


@pytest.mark.parametrize(("model", "variant"), CASES, ids=[m for m, _ in CASES])
def test_every_tensor_is_drawn_as_torchvision_draws_it(model, variant):
    ours, reference = _builds(model, variant)
    mismatched = []
    for (name, a), (other, b) in zip(ours.named_parameters(), reference.named_parameters(), strict=True):
        assert name == other
        assert torch.isfinite(a).all(), f"{name} holds non-finite values: left uninitialised?"
        if name == "heads.head.weight":  # the one deliberate difference
            assert b.abs().max() == 0 and 0.015 < a.std() < 0.025
            continue
        if b.numel() < 4096 or b.std() == 0:  # small or constant tensors: exactly
            if b.numel() < 4096 and b.std() != 0:
                continue
            if not torch.equal(a, b):
                mismatched.append(f"{name}: constant {b.flatten()[0].item()} expected")
            continue
        if not (abs(a.std() - b.std()) <= 0.05 * b.std() and abs(a.mean() - b.mean()) <= 0.05 * b.std()):
            got, want = f"{a.mean():.4g}/{a.std():.4g}", f"{b.mean():.4g}/{b.std():.4g}"
            mismatched.append(f"{name}: mean/std {got}, torchvision's {want}")
    assert not mismatched, "\n".join(mismatched)


def test_swin_v2_temperature_and_convnext_layer_scale_keep_their_constants():
    swin, _ = _builds("swin", "swin_v2_t")
    scales = [p for n, p in swin.named_parameters() if n.endswith("logit_scale")]
    assert scales and all(torch.allclose(p, torch.full_like(p, math.log(10))) for p in scales)
    convnext, _ = _builds("convnext", "tiny")
    layer_scales = [p for n, p in convnext.named_parameters() if n.endswith("layer_scale")]
    assert layer_scales and all(torch.equal(p, torch.full_like(p, 1e-6)) for p in layer_scales)
