"""Conversion rules between the PyTorch ResNets (torchvision and timm, or Hugging Face) and
:class:`.model.ResNet`."""

from __future__ import annotations

from ....frameworks.flax_weights import Rule, batch_norm, conv, dense

SKIP = ("*.num_batches_tracked",)


def torchvision_rules(num_stages: int = 4) -> list[Rule]:
    """torchvision's names (timm's ResNets use the same)."""
    rules = conv("conv1", "conv1") + batch_norm("bn1", "bn1") + dense("fc", "fc")
    for stage in range(1, num_stages + 1):
        block = f"layer{stage}.{{j}}"
        flax = f"layer{stage}_{{j}}"
        for i in (1, 2, 3):
            rules += conv(f"{block}.conv{i}", f"{flax}/conv{i}") + batch_norm(f"{block}.bn{i}", f"{flax}/bn{i}")
        rules += conv(f"{block}.downsample.0", f"{flax}/downsample_conv")
        rules += batch_norm(f"{block}.downsample.1", f"{flax}/downsample_bn")
    return rules


def hugging_face_rules(num_stages: int = 4) -> list[Rule]:
    """transformers' ``ResNetForImageClassification`` names."""
    stem = "resnet.embedder.embedder"
    rules = conv(f"{stem}.convolution", "conv1") + batch_norm(f"{stem}.normalization", "bn1")
    rules += dense("classifier.1", "fc")
    for stage in range(num_stages):
        block = f"resnet.encoder.stages.{stage}.layers.{{j}}"
        flax = f"layer{stage + 1}_{{j}}"
        for i in (1, 2, 3):
            layer = f"{block}.layer.{i - 1}"
            rules += conv(f"{layer}.convolution", f"{flax}/conv{i}")
            rules += batch_norm(f"{layer}.normalization", f"{flax}/bn{i}")
        rules += conv(f"{block}.shortcut.convolution", f"{flax}/downsample_conv")
        rules += batch_norm(f"{block}.shortcut.normalization", f"{flax}/downsample_bn")
    return rules
