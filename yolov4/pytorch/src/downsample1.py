"""YOLOv4 backbone stage 1: yolov4.cfg layers 0-10 (stride 2, 64 channels out)."""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct
from .csp_stage import CSPStage


class DownSample1(nn.Module):
    """The 3x3 stem conv (32 channels), then a full-width CSP stage with one residual."""

    def __init__(self):
        super().__init__()
        self.stem = ConvBNAct(3, 32, 3, activation="mish")
        self.stage = CSPStage(32, 64, num_blocks=1, branch_channels=64, hidden_channels=32, out_channels=64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(self.stem(x))

    def darknet_convs(self) -> list[ConvBNAct]:
        return [self.stem, *self.stage.darknet_convs()]
