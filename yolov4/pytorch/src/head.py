"""YOLOv4 head: yolov4.cfg layers 137-161, the bottom-up PANet path and the three outputs.

Leaky ReLU throughout. Returns the raw ``[yolo]`` input maps in cfg order: strides 8, 16, 32.
"""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct, five_convs, head_conv


class Head(nn.Module):
    def __init__(self, num_anchors: int = 3, num_classes: int = 80):
        super().__init__()
        self.out8 = nn.Sequential(ConvBNAct(128, 256, 3), head_conv(256, num_anchors, num_classes))  # layers 137-138
        self.down8 = ConvBNAct(128, 256, 3, stride=2)  # layer 141, on layer 136
        self.convs16 = five_convs(512, 256)  # layers 143-147
        self.out16 = nn.Sequential(ConvBNAct(256, 512, 3), head_conv(512, num_anchors, num_classes))  # layers 148-149
        self.down16 = ConvBNAct(256, 512, 3, stride=2)  # layer 152, on layer 147
        self.convs32 = five_convs(1024, 512)  # layers 154-158
        self.out32 = nn.Sequential(ConvBNAct(512, 1024, 3), head_conv(1024, num_anchors, num_classes))  # layers 159-160

    def forward(
        self, p3: torch.Tensor, p4: torch.Tensor, p5: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out8 = self.out8(p3)
        # [route] layers=-1,-16 and -1,-37: the downsampled map first, then the neck's.
        x16 = self.convs16(torch.cat((self.down8(p3), p4), dim=1))
        out16 = self.out16(x16)
        x32 = self.convs32(torch.cat((self.down16(x16), p5), dim=1))
        out32 = self.out32(x32)
        return out8, out16, out32

    def darknet_convs(self) -> list[ConvBNAct]:
        return [
            *self.out8,
            self.down8,
            *self.convs16,
            *self.out16,
            self.down16,
            *self.convs32,
            *self.out32,
        ]
