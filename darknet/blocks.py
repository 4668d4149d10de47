"""Building blocks shared by the Darknet-derived networks (YOLOv3, YOLOv4 and their tiny forms).

Each class mirrors one kind of section of a Darknet ``.cfg`` file, so a network written with them
can be checked against its cfg line by line.
"""

import torch
from torch import nn
from torch.nn import functional as F

# Darknet's batch-norm epsilon depends on the build (its CPU path and its cuDNN path differ);
# 1e-5 is the cuDNN value and PyTorch's default. With trained running variances the difference is
# far below bf16 resolution.
BN_EPS = 1e-5

# Darknet's "leaky" activation has a fixed slope of 0.1 (not PyTorch's default 0.01).
LEAKY_SLOPE = 0.1


def _activation(name: str) -> nn.Module:
    if name == "leaky":
        return nn.LeakyReLU(LEAKY_SLOPE)
    if name == "mish":
        return nn.Mish()
    if name == "linear":
        return nn.Identity()
    raise ValueError(f"unknown Darknet activation {name!r}; expected 'leaky', 'mish' or 'linear'")


class ConvBNAct(nn.Module):
    """One Darknet ``[convolutional]`` section with ``pad=1``: conv, optional BN, activation.

    ``pad=1`` in a cfg means padding ``size // 2``. With batch norm the conv has no bias (Darknet
    stores the BN shift in the bias slot); without it the conv carries its own bias.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        *,
        activation: str = "leaky",
        batch_norm: bool = True,
    ):
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            padding=kernel_size // 2,
            bias=not batch_norm,
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS) if batch_norm else None
        self.act = _activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return self.act(x)


def head_conv(in_channels: int, num_anchors: int, num_classes: int) -> ConvBNAct:
    """The 1x1 linear conv in front of each ``[yolo]`` layer: ``anchors * (5 + classes)`` maps."""
    return ConvBNAct(
        in_channels,
        num_anchors * (5 + num_classes),
        1,
        activation="linear",
        batch_norm=False,
    )


def five_convs(in_channels: int, channels: int) -> nn.Sequential:
    """1x1, 3x3, 1x1, 3x3, 1x1 leaky convs alternating ``channels`` and ``2 * channels``: the run
    that follows each concat in the YOLOv3 head and the YOLOv4 PANet."""
    wide = channels * 2
    return nn.Sequential(
        ConvBNAct(in_channels, channels, 1),
        ConvBNAct(channels, wide, 3),
        ConvBNAct(wide, channels, 1),
        ConvBNAct(channels, wide, 3),
        ConvBNAct(wide, channels, 1),
    )


class Residual(nn.Module):
    """A 1x1 conv, a 3x3 conv and a ``[shortcut] from=-3 activation=linear`` around them."""

    def __init__(self, channels: int, hidden_channels: int, *, activation: str = "leaky"):
        super().__init__()
        self.conv1 = ConvBNAct(channels, hidden_channels, 1, activation=activation)
        self.conv2 = ConvBNAct(hidden_channels, channels, 3, activation=activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))

    def darknet_convs(self) -> list[ConvBNAct]:
        return [self.conv1, self.conv2]


class Upsample2x(nn.Module):
    """``[upsample] stride=2``: nearest-neighbour, each pixel repeated 2x2."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2.0, mode="nearest")


class MaxPoolStride1(nn.Module):
    """``[maxpool] stride=1`` of any size, keeping the spatial size.

    Darknet pads a max-pool by ``size - 1`` in total, ``(size - 1) // 2`` of it before the image,
    and ignores the padded cells. For odd sizes (the SPP pools 5, 9, 13) that is PyTorch's
    symmetric padding; for size 2 (yolov3-tiny) the one padded row/column comes after the image,
    and replicating the edge is the same as ignoring it for a max.
    """

    def __init__(self, size: int):
        super().__init__()
        total = size - 1
        self.before = total // 2
        self.after = total - self.before
        symmetric = self.before == self.after
        self.pool = nn.MaxPool2d(size, stride=1, padding=self.before if symmetric else 0)
        self.needs_pad = not symmetric

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.needs_pad:
            x = F.pad(x, (self.before, self.after, self.before, self.after), mode="replicate")
        return self.pool(x)


def maxpool_stride2() -> nn.MaxPool2d:
    """``[maxpool] size=2 stride=2``.

    Darknet pads one cell after the image, which only matters for odd sizes; every Darknet YOLO
    input is a multiple of 32, so every map that reaches one of these pools is even.
    """
    return nn.MaxPool2d(2, stride=2)


def second_half_channels(x: torch.Tensor) -> torch.Tensor:
    """``[route] groups=2 group_id=1``: the second half of the channels."""
    return x[:, x.shape[1] // 2 :]
