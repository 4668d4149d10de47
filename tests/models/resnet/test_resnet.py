"""ResNet specifics: each source's own preprocessing of the real photo, and readable labels."""

from __future__ import annotations

import warnings

import pytest
import torch

from tt_forge_models import PreprocessorFallbackWarning
from tt_forge_models.resnet.pytorch import ModelLoader, ModelVariant
from tt_forge_models.tasks.labels import imagenet_categories


def test_inputs_follow_each_variants_input_size():
    for variant in ModelVariant:
        loader = ModelLoader(variant)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PreprocessorFallbackWarning)
            x = loader.load_inputs(batch_size=3)
        assert x.shape == (3, *loader.get_variant_config().inputs.image_size), variant
        # Normalised with the ImageNet statistics: roughly zero-centred, not in [0, 1].
        assert x.min() < 0 < x.max() and -3 < x.mean() < 3


def test_sources_use_their_own_transforms():
    tv = ModelLoader(ModelVariant.RESNET_50).load_inputs()
    timm_x = ModelLoader(ModelVariant.RESNET_50_TIMM).load_inputs()
    assert tv.shape == timm_x.shape
    # torchvision V2 resizes to 232 (bilinear); timm a1_in1k crops 95% (bicubic): different pixels.
    assert not torch.allclose(tv, timm_x)
    highres = ModelLoader(ModelVariant.RESNET_50_HIGHRES).load_inputs()
    assert highres.shape[-2:] == (448, 448)


def test_hf_processor_falls_back_to_documented_constants_with_one_warning():
    loader = ModelLoader(ModelVariant.RESNET_50_HF)
    with pytest.warns(PreprocessorFallbackWarning) as record:
        x = loader.load_inputs()
    assert len([w for w in record if w.category is PreprocessorFallbackWarning]) == 1
    assert "ImageNet" in str(record[0].message)
    assert x.shape == (1, 3, 224, 224)


def test_decode_output_gives_sorted_top_k_imagenet_labels():
    loader = ModelLoader(ModelVariant.RESNET_18)
    model = loader.load_model(weights="random")
    with torch.no_grad():
        out = model(loader.load_inputs(batch_size=2))
    decoded = loader.decode_output(out, top_k=5)
    assert len(decoded) == 2
    for per_image in decoded:
        probs = [d["probability"] for d in per_image]
        assert len(per_image) == 5 and probs == sorted(probs, reverse=True)
        assert all(d["label"] == imagenet_categories()[d["class_id"]] for d in per_image)
        assert 0 < sum(probs) <= 1 + 1e-6
    assert len(imagenet_categories()) == 1000 and imagenet_categories()[281] == "tabby"


def test_decode_accepts_hf_outputs():
    loader = ModelLoader(ModelVariant.RESNET_50_HF)
    model = loader.load_model(weights="random", dtype_override=torch.bfloat16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        x = loader.load_inputs(dtype_override=torch.bfloat16)
    with torch.no_grad():
        out = model(x)
    assert loader.unpack_forward_output(out) is out.logits
    assert loader.decode_output(out, top_k=1)[0][0]["label"] in imagenet_categories()


def test_training_step_reaches_the_first_layer():
    loader = ModelLoader(ModelVariant.RESNET_18)
    model = loader.load_model(weights="random").train()
    loss = loader.unpack_forward_output(model(loader.load_inputs(batch_size=2))).float().logsumexp(-1).mean()
    loss.backward()
    assert model.conv1.weight.grad is not None and torch.isfinite(model.conv1.weight.grad).all()
    assert model.conv1.weight.grad.abs().sum() > 0
