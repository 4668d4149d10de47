"""The torchvision image classifiers of issue 13 (MobileNetV2, EfficientNet, ConvNeXt, Swin, ViT):
each preprocesses the shipped photograph exactly as its weights enum's own transform does, at its
own resolution, and decodes to ImageNet labels."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import get_model_weights

from tt_forge_models import list_variants
from tt_forge_models.inputs.vision import sample_image
from tt_forge_models.tasks.image_classification import SAMPLE_IMAGE
from tt_forge_models.tasks.labels import imagenet_categories

FAMILIES = ("mobilenetv2", "efficientnet", "convnext", "swin", "vit")
ENTRIES = [e for e in list_variants() if e.model in FAMILIES]


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
    } <= found


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.id)
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
