"""Darknet-53, the YOLOv3 backbone: layers 0-74 of yolov3.cfg."""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct, Residual


class Darknet53Stage(nn.Module):
    """A 3x3 stride-2 conv, then ``num_blocks`` residuals (1x1 to half width, 3x3 back)."""

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int):
        super().__init__()
        self.downsample = ConvBNAct(in_channels, out_channels, 3, stride=2)
        self.blocks = nn.Sequential(*(Residual(out_channels, out_channels // 2) for _ in range(num_blocks)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))

    def darknet_convs(self) -> list[ConvBNAct]:
        convs = [self.downsample]
        for block in self.blocks:
            convs += block.darknet_convs()
        return convs


class Darknet53(nn.Module):
    """Returns the stride-8, -16 and -32 maps (cfg layers 36, 61 and 74: 256, 512, 1024 ch)."""

    def __init__(self):
        super().__init__()
        self.stem = ConvBNAct(3, 32, 3)  # layer 0
        self.stage1 = Darknet53Stage(32, 64, 1)  # layers 1-4
        self.stage2 = Darknet53Stage(64, 128, 2)  # layers 5-11
        self.stage3 = Darknet53Stage(128, 256, 8)  # layers 12-36
        self.stage4 = Darknet53Stage(256, 512, 8)  # layers 37-61
        self.stage5 = Darknet53Stage(512, 1024, 4)  # layers 62-74

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.stage2(self.stage1(self.stem(x)))
        c3 = self.stage3(x)
        c4 = self.stage4(c3)
        c5 = self.stage5(c4)
        return c3, c4, c5

    def darknet_convs(self) -> list[ConvBNAct]:
        convs = [self.stem]
        for stage in (self.stage1, self.stage2, self.stage3, self.stage4, self.stage5):
            convs += stage.darknet_convs()
        return convs
