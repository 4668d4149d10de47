"""ResNet (v1.5: the stride in the 3x3 convolution) in Flax linen, named as torchvision names it.

One network serves torchvision's, timm's and Hugging Face's ResNets: they are the same
architecture with different parameter names, which the conversion rules map. Inputs are NCHW, as
every PyTorch loader gives them; the network transposes them to the NHWC Flax convolutions use.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

_EPS = 1e-5  # PyTorch's BatchNorm2d default, used by all three sources
_MOMENTUM = 0.9  # Flax's convention for PyTorch's momentum=0.1


def _bn(train: bool, name: str) -> nn.BatchNorm:
    return nn.BatchNorm(use_running_average=not train, momentum=_MOMENTUM, epsilon=_EPS, name=name)


def _conv(features: int, kernel: int, stride: int, name: str) -> nn.Conv:
    pad = kernel // 2
    return nn.Conv(
        features, (kernel, kernel), (stride, stride), padding=((pad, pad), (pad, pad)), use_bias=False, name=name
    )


class Block(nn.Module):
    """A bottleneck (1x1, 3x3, 1x1; 4x wider out) or basic (3x3, 3x3) residual block."""

    width: int
    stride: int
    bottleneck: bool
    downsample: bool

    @nn.compact
    def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        out_features = self.width * 4 if self.bottleneck else self.width
        if self.bottleneck:
            shapes = [(self.width, 1, 1), (self.width, 3, self.stride), (out_features, 1, 1)]
        else:
            shapes = [(self.width, 3, self.stride), (out_features, 3, 1)]
        y = x
        for i, (features, kernel, stride) in enumerate(shapes, start=1):
            y = _bn(train, f"bn{i}")(_conv(features, kernel, stride, f"conv{i}")(y))
            if i < len(shapes):
                y = nn.relu(y)
        if self.downsample:
            x = _bn(train, "downsample_bn")(_conv(out_features, 1, self.stride, "downsample_conv")(x))
        return nn.relu(y + x)


class ResNet(nn.Module):
    depths: Sequence[int]  # blocks per stage, e.g. (3, 4, 6, 3) for ResNet-50
    bottleneck: bool = True
    num_classes: int = 1000
    stem_width: int = 64

    @nn.compact
    def __call__(self, pixel_values: jnp.ndarray, train: bool = False) -> jnp.ndarray:
        x = jnp.transpose(pixel_values, (0, 2, 3, 1))  # NCHW -> NHWC
        x = nn.relu(_bn(train, "bn1")(_conv(self.stem_width, 7, 2, "conv1")(x)))
        x = nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
        in_features = self.stem_width
        for stage, depth in enumerate(self.depths):
            width = self.stem_width * 2**stage
            for j in range(depth):
                stride = 2 if stage > 0 and j == 0 else 1
                out_features = width * 4 if self.bottleneck else width
                downsample = j == 0 and (stride != 1 or in_features != out_features)
                x = Block(width, stride, self.bottleneck, downsample, name=f"layer{stage + 1}_{j}")(x, train)
                in_features = out_features
        x = jnp.mean(x, axis=(1, 2))
        return nn.Dense(self.num_classes, name="fc")(x)
