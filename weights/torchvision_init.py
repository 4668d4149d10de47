"""torchvision's own initialisation of each architecture, as one pass over a materialised model.

A model built on meta skips the fills its constructor makes, so ``weights="random"`` runs the
architecture's recipe afterwards, once, in the target dtype. Each recipe below is the one its
torchvision constructor applies (``torchvision/models/<arch>.py``), with one deliberate change: a
ViT's classification head is drawn (truncated normal, std 0.02) instead of zeroed, because a zero
head makes every logit 0 and a device-against-CPU comparison of zeros tests nothing.
Architectures without an entry (ResNet) use the shared convolutional recipe,
:func:`.materialize.default_init_`, which is theirs.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
from torch import nn

from .materialize import default_init_


def _trunc_normal_linear_(module: nn.Module, std: float = 0.02) -> None:
    nn.init.trunc_normal_(module.weight, std=std)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def _norms_and_rest_(module: nn.Module) -> None:
    """Norm layers (and any other module with its own reset) as constructed; any other direct
    parameter N(0, 0.02), as the shared recipe draws it, until a recipe sets its own."""
    if hasattr(module, "reset_parameters") and (module._parameters or module._buffers):
        module.reset_parameters()
    else:
        for param in module._parameters.values():
            if param is not None:
                nn.init.normal_(param, std=0.02)


@torch.no_grad()
def vision_transformer_init_(model: nn.Module) -> None:
    from torchvision.models.vision_transformer import MLPBlock

    mlp_linears = {id(m) for block in model.modules() if isinstance(block, MLPBlock) for m in block.modules()}
    for module in model.modules():
        if isinstance(module, nn.Linear) and id(module) in mlp_linears:
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.normal_(module.bias, std=1e-6)
        elif isinstance(module, nn.MultiheadAttention):
            module.out_proj.reset_parameters()
            module._reset_parameters()  # xavier in_proj, zero biases
        elif not isinstance(module, nn.Linear):
            _norms_and_rest_(module)
    conv = model.conv_proj
    if isinstance(conv, nn.Conv2d):
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        nn.init.trunc_normal_(conv.weight, std=math.sqrt(1 / fan_in))
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
    nn.init.zeros_(model.class_token)
    nn.init.normal_(model.encoder.pos_embedding, std=0.02)
    pre_logits = getattr(model.heads, "pre_logits", None)
    if isinstance(pre_logits, nn.Linear):
        _trunc_normal_linear_(pre_logits, std=math.sqrt(1 / pre_logits.in_features))
    _trunc_normal_linear_(model.heads.head)  # torchvision zeroes it; see the module docstring


@torch.no_grad()
def swin_transformer_init_(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.Linear):
            _trunc_normal_linear_(module)
        else:
            _norms_and_rest_(module)
        table = module._parameters.get("relative_position_bias_table")
        if table is not None:
            nn.init.trunc_normal_(table, std=0.02)
        scale = module._parameters.get("logit_scale")  # Swin V2's attention temperature
        if scale is not None:
            scale.fill_(math.log(10))


@torch.no_grad()
def convnext_init_(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            _trunc_normal_linear_(module)
        else:
            _norms_and_rest_(module)
        scale = module._parameters.get("layer_scale")
        if scale is not None:
            scale.fill_(1e-6)  # ConvNeXt's layer_scale argument, the builders' default


def _mobile_init_(model: nn.Module, linear_weight_: Callable[[nn.Linear], None]) -> None:
    """MobileNet's and EfficientNet's shared rule: Kaiming-normal (fan-out) convolutions, zero
    biases, norms as constructed; only the classifier's weight differs."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            linear_weight_(module)
            nn.init.zeros_(module.bias)
        else:
            _norms_and_rest_(module)


@torch.no_grad()
def mobilenet_v2_init_(model: nn.Module) -> None:
    _mobile_init_(model, lambda linear: nn.init.normal_(linear.weight, 0, 0.01))


@torch.no_grad()
def efficientnet_init_(model: nn.Module) -> None:
    def uniform_(linear: nn.Linear) -> None:
        bound = 1.0 / math.sqrt(linear.out_features)
        nn.init.uniform_(linear.weight, -bound, bound)

    _mobile_init_(model, uniform_)


#: recipe by the class torchvision's builder returns
RECIPES: dict[str, Callable[[nn.Module], None]] = {
    "VisionTransformer": vision_transformer_init_,
    "SwinTransformer": swin_transformer_init_,
    "ConvNeXt": convnext_init_,
    "MobileNetV2": mobilenet_v2_init_,
    "EfficientNet": efficientnet_init_,
}


def torchvision_init_(model: nn.Module) -> None:
    """The recipe of ``model``'s architecture, else the shared convolutional one."""
    RECIPES.get(type(model).__name__, default_init_)(model)
