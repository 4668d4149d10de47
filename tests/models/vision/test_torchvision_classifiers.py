"""The image classifiers of issue 13 (MobileNetV2, EfficientNet, ConvNeXt, Swin, ViT): each
preprocesses the shipped photograph exactly as its source's own transform does (torchvision's
weights enum, timm's pretrained config, the Hugging Face image processor shipped beside the
config), at its own resolution, and decodes to ImageNet labels."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import get_model_weights

from tt_forge_models import list_variants
from tt_forge_models.inputs.vision import sample_image
from tt_forge_models.tasks.image_classification import SAMPLE_IMAGE
from tt_forge_models.tasks.labels import imagenet_categories

FAMILIES = ("mobilenetv2", "efficientnet", "convnext", "swin", "vit")
ENTRIES = [e for e in list_variants(framework="pytorch") if e.model in FAMILIES]
TORCHVISION = [e for e in ENTRIES if e.config.source == "torchvision"]


def test_every_family_has_its_variants():
    found = {e.id for e in ENTRIES}
    assert {
        "mobilenetv2/pytorch-mobilenet_v2",
        "efficientnet/pytorch-b0",
        "efficientnet/pytorch-b4",
        "convnext/pytorch-tiny",
        "swin/pytorch-swin_t",
        "swin/pytorch-swin_v2_t",
        "vit/pytorch-vit_b_16",
        "vit/pytorch-vit_b_16_hf",
        "vit/pytorch-vit_b_16_timm",
        "vit/pytorch-vit_l_16",
        "swin/pytorch-swin_t_hf",
        "swin/pytorch-swin_b",
        "efficientnet/pytorch-b0_timm",
    } <= found


@pytest.mark.parametrize("entry", TORCHVISION, ids=lambda e: e.id)
def test_inputs_are_the_weights_own_transform_of_the_photo(entry):
    weights = get_model_weights(entry.config.weights.builder)[entry.config.weights.tag]
    expected = weights.transforms()(sample_image(SAMPLE_IMAGE)).unsqueeze(0)
    inputs = entry.make_loader().load_inputs()
    assert inputs.shape == (1, *entry.config.inputs.image_size)
    assert torch.equal(inputs, expected)
    # the table's count is the one torchvision publishes for these weights
    assert entry.config.num_params == weights.meta["num_params"]


def test_decode_names_imagenet_classes():
    loader = [e for e in ENTRIES if e.model == "mobilenetv2"][0].make_loader()
    model = loader.load_model(weights="random")
    with torch.no_grad():
        top = loader.decode_output(model(loader.load_inputs()), top_k=3)[0]
    assert len(top) == 3 and all(row["label"] in imagenet_categories() for row in top)
    assert top[0]["probability"] >= top[1]["probability"] >= top[2]["probability"]


def test_hugging_face_rows_use_the_shipped_processor_without_a_fallback(recwarn):
    """ViT's processor resizes straight to 224 and normalises by 0.5: nothing like the ImageNet
    fallback, so matching it proves the shipped processor (not the constants) was used."""
    from transformers import ViTImageProcessor

    loader = [e for e in ENTRIES if e.id == "vit/pytorch-vit_b_16_hf"][0].make_loader()
    inputs = loader.load_inputs()
    processor = ViTImageProcessor(size={"height": 224, "width": 224}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    expected = processor(images=sample_image(SAMPLE_IMAGE), return_tensors="pt")["pixel_values"]
    assert torch.allclose(inputs, expected, atol=1e-6)
    assert not [w for w in recwarn if "Fallback" in type(w.message).__name__]


@pytest.mark.parametrize("variant", ["vit/pytorch-vit_b_16_timm", "efficientnet/pytorch-b0_timm"])
def test_timm_rows_use_timms_pretrained_transform(variant):
    import timm.data

    entry = [e for e in ENTRIES if e.id == variant][0]
    weights = entry.config.weights
    model = timm.create_model(f"{weights.architecture}.{weights.tag}", pretrained=False)
    transform = timm.data.create_transform(**timm.data.resolve_data_config(model=model))
    assert torch.equal(entry.make_loader().load_inputs(), transform(sample_image(SAMPLE_IMAGE)).unsqueeze(0))
