"""The cross-stage-partial stage that CSPDarknet53 (YOLOv4's backbone) repeats five times."""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct, Residual


class CSPStage(nn.Module):
    """One downsampling stage of yolov4.cfg, all Mish, in cfg order:

    a 3x3 stride-2 conv; a 1x1 conv on it that becomes the skip branch; ``[route] layers=-2`` and a
    1x1 conv that starts the main branch; ``num_blocks`` residuals; a 1x1 conv closing the main
    branch; ``[route] layers=-1,-N`` (main branch first, then skip); a 1x1 transition conv.

    Stages 2-5 split into two halves of ``channels``; stage 1 keeps full width in both branches
    and narrows only inside its residual, hence the overridable widths.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        num_blocks: int,
        *,
        branch_channels: int | None = None,
        hidden_channels: int | None = None,
        out_channels: int | None = None,
    ):
        super().__init__()
        branch = branch_channels or channels // 2
        hidden = hidden_channels or branch
        out = out_channels or channels
        self.downsample = ConvBNAct(in_channels, channels, 3, stride=2, activation="mish")
        self.skip = ConvBNAct(channels, branch, 1, activation="mish")
        self.main_in = ConvBNAct(channels, branch, 1, activation="mish")
        self.blocks = nn.Sequential(*(Residual(branch, hidden, activation="mish") for _ in range(num_blocks)))
        self.main_out = ConvBNAct(branch, branch, 1, activation="mish")
        self.transition = ConvBNAct(2 * branch, out, 1, activation="mish")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.downsample(x)
        skip = self.skip(x)
        main = self.main_out(self.blocks(self.main_in(x)))
        return self.transition(torch.cat((main, skip), dim=1))

    def darknet_convs(self) -> list[ConvBNAct]:
        convs = [self.downsample, self.skip, self.main_in]
        for block in self.blocks:
            convs += block.darknet_convs()
        return convs + [self.main_out, self.transition]
