"""YOLOv4-tiny (yolov4-tiny.cfg): a leaky CSP backbone with channel-split routes, two scales.

``forward`` returns the two raw ``[yolo]`` input maps in cfg order (strides 32, 16).
"""

import torch
from torch import nn

from ....darknet.blocks import (
    ConvBNAct,
    Upsample2x,
    head_conv,
    maxpool_stride2,
    second_half_channels,
)
from ....tasks.detection import YoloLayerSpec

ANCHORS = (10, 14, 23, 27, 37, 58, 81, 82, 135, 169, 344, 319)

# yolov4-tiny.cfg really masks 1,2,3 for the second scale (anchor 0 is unused).
YOLO_LAYERS = (
    YoloLayerSpec.from_cfg(ANCHORS, mask=(3, 4, 5), stride=32, scale_x_y=1.05),
    YoloLayerSpec.from_cfg(ANCHORS, mask=(1, 2, 3), stride=16, scale_x_y=1.05),
)


class TinyCSPBlock(nn.Module):
    """Eight cfg sections, e.g. layers 2-8:

    a 3x3 conv; ``[route] groups=2 group_id=1`` (its second half of channels); two 3x3 convs;
    ``[route] layers=-1,-2`` (second conv first); a 1x1 conv; ``[route] layers=-6,-1`` (the first
    conv's full map, then the 1x1's). Returns that concat (``2 * channels``) and the 1x1's map.
    """

    def __init__(self, channels: int):
        super().__init__()
        half = channels // 2
        self.conv1 = ConvBNAct(channels, channels, 3)
        self.conv2 = ConvBNAct(half, half, 3)
        self.conv3 = ConvBNAct(half, half, 3)
        self.conv4 = ConvBNAct(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x1 = self.conv1(x)
        x2 = self.conv2(second_half_channels(x1))
        x3 = self.conv3(x2)
        x4 = self.conv4(torch.cat((x3, x2), dim=1))
        return torch.cat((x1, x4), dim=1), x4

    def darknet_convs(self) -> list[ConvBNAct]:
        return [self.conv1, self.conv2, self.conv3, self.conv4]


class YoloV4Tiny(nn.Module):
    """yolov4-tiny.cfg: 21 conv layers (cfg layers 0-37).

    6,056,606 parameters; its ``.weights`` file holds 6,062,814 values (with BN running stats).
    """

    yolo_layers = YOLO_LAYERS

    def __init__(self, num_classes: int = 80):
        super().__init__()
        self.num_classes = num_classes
        anchors = len(YOLO_LAYERS[0].anchors)
        self.conv0 = ConvBNAct(3, 32, 3, stride=2)
        self.conv1 = ConvBNAct(32, 64, 3, stride=2)
        self.block1 = TinyCSPBlock(64)  # layers 2-8
        self.block2 = TinyCSPBlock(128)  # layers 10-16
        self.block3 = TinyCSPBlock(256)  # layers 18-24; its 1x1 (layer 23) feeds the 2nd scale
        self.pool = maxpool_stride2()  # layers 9, 17, 25 (no parameters, so one module)
        self.conv26 = ConvBNAct(512, 512, 3)
        self.conv27 = ConvBNAct(512, 256, 1)
        self.conv28 = ConvBNAct(256, 512, 3)
        self.conv29 = head_conv(512, anchors, num_classes)
        self.conv32 = ConvBNAct(256, 128, 1)
        self.upsample = Upsample2x()
        self.conv35 = ConvBNAct(128 + 256, 256, 3)
        self.conv36 = head_conv(256, anchors, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.conv1(self.conv0(x))
        x, _ = self.block1(x)
        x, _ = self.block2(self.pool(x))
        x, x23 = self.block3(self.pool(x))
        x27 = self.conv27(self.conv26(self.pool(x)))
        out_large = self.conv29(self.conv28(x27))
        # [route] layers=-4 (layer 27), then [route] layers=-1, 23.
        x = torch.cat((self.upsample(self.conv32(x27)), x23), dim=1)
        out_medium = self.conv36(self.conv35(x))
        return out_large, out_medium

    def darknet_convs(self) -> list[ConvBNAct]:
        return [
            self.conv0,
            self.conv1,
            *self.block1.darknet_convs(),
            *self.block2.darknet_convs(),
            *self.block3.darknet_convs(),
            self.conv26,
            self.conv27,
            self.conv28,
            self.conv29,
            self.conv32,
            self.conv35,
            self.conv36,
        ]
