"""YOLOv4 neck: yolov4.cfg layers 105-136, SPP on the stride-32 map, then the top-down PANet path.

Leaky ReLU throughout. Takes the backbone's stride-8, -16 and -32 maps (cfg layers 54, 85, 104)
and returns the three maps the head builds on: stride 8 (layer 136, 128 ch), stride 16
(layer 126, 256 ch) and stride 32 (layer 116, 512 ch).
"""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct, MaxPoolStride1, Upsample2x, five_convs


class SPP(nn.Module):
    """Layers 108-113: max-pools 5, 9 and 13 (stride 1), concatenated as the cfg routes them,
    ``layers=-1,-3,-5,-6``: pool 13, pool 9, pool 5, then the input."""

    def __init__(self):
        super().__init__()
        self.pool5 = MaxPoolStride1(5)
        self.pool9 = MaxPoolStride1(9)
        self.pool13 = MaxPoolStride1(13)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.pool13(x), self.pool9(x), self.pool5(x), x), dim=1)


class Neck(nn.Module):
    def __init__(self):
        super().__init__()
        # Layers 105-107.
        self.pre_spp = nn.Sequential(ConvBNAct(1024, 512, 1), ConvBNAct(512, 1024, 3), ConvBNAct(1024, 512, 1))
        self.spp = SPP()
        # Layers 114-116.
        self.post_spp = nn.Sequential(ConvBNAct(2048, 512, 1), ConvBNAct(512, 1024, 3), ConvBNAct(1024, 512, 1))
        self.reduce32 = ConvBNAct(512, 256, 1)  # layer 117
        self.upsample = Upsample2x()
        self.lateral16 = ConvBNAct(512, 256, 1)  # layer 120, on backbone layer 85
        self.convs16 = five_convs(512, 256)  # layers 122-126
        self.reduce16 = ConvBNAct(256, 128, 1)  # layer 127
        self.lateral8 = ConvBNAct(256, 128, 1)  # layer 130, on backbone layer 54
        self.convs8 = five_convs(256, 128)  # layers 132-136

    def forward(
        self, c3: torch.Tensor, c4: torch.Tensor, c5: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        p5 = self.post_spp(self.spp(self.pre_spp(c5)))
        # [route] layers=-1,-3: the lateral conv first, then the upsampled map.
        x = torch.cat((self.lateral16(c4), self.upsample(self.reduce32(p5))), dim=1)
        p4 = self.convs16(x)
        x = torch.cat((self.lateral8(c3), self.upsample(self.reduce16(p4))), dim=1)
        p3 = self.convs8(x)
        return p3, p4, p5

    def darknet_convs(self) -> list[ConvBNAct]:
        return [
            *self.pre_spp,
            *self.post_spp,
            self.reduce32,
            self.lateral16,
            *self.convs16,
            self.reduce16,
            self.lateral8,
            *self.convs8,
        ]
