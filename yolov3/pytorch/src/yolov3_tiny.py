"""YOLOv3-tiny (yolov3-tiny.cfg): seven 3x3 convs with max-pools and a two-scale head.

``forward`` returns the two raw ``[yolo]`` input maps in cfg order (strides 32, 16).
"""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct, MaxPoolStride1, Upsample2x, head_conv, maxpool_stride2
from ....tasks.detection import YoloLayerSpec

ANCHORS = (10, 14, 23, 27, 37, 58, 81, 82, 135, 169, 344, 319)

YOLO_LAYERS = (
    YoloLayerSpec.from_cfg(ANCHORS, mask=(3, 4, 5), stride=32),
    YoloLayerSpec.from_cfg(ANCHORS, mask=(0, 1, 2), stride=16),
)


class YoloV3Tiny(nn.Module):
    """yolov3-tiny.cfg: 13 conv layers (cfg layers 0-23).

    8,852,366 parameters; its ``.weights`` file holds 8,858,734 values (with BN running stats).
    """

    yolo_layers = YOLO_LAYERS

    def __init__(self, num_classes: int = 80):
        super().__init__()
        self.num_classes = num_classes
        anchors = len(YOLO_LAYERS[0].anchors)
        # A `convN` attribute is cfg layer N.
        # Layers 0-7: conv 3x3 then a 2x2 stride-2 max-pool, four times (16 to 128 channels).
        self.features_stride16 = nn.Sequential(
            ConvBNAct(3, 16, 3),
            maxpool_stride2(),
            ConvBNAct(16, 32, 3),
            maxpool_stride2(),
            ConvBNAct(32, 64, 3),
            maxpool_stride2(),
            ConvBNAct(64, 128, 3),
            maxpool_stride2(),
        )
        self.conv8 = ConvBNAct(128, 256, 3)  # layer 8, routed to by the second scale
        # Layers 9-13.
        self.features_stride32 = nn.Sequential(
            maxpool_stride2(),
            ConvBNAct(256, 512, 3),
            MaxPoolStride1(2),
            ConvBNAct(512, 1024, 3),
            ConvBNAct(1024, 256, 1),
        )
        self.conv14 = ConvBNAct(256, 512, 3)
        self.conv15 = head_conv(512, anchors, num_classes)
        self.conv18 = ConvBNAct(256, 128, 1)
        self.upsample = Upsample2x()
        self.conv21 = ConvBNAct(128 + 256, 256, 3)
        self.conv22 = head_conv(256, anchors, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x8 = self.conv8(self.features_stride16(x))
        x13 = self.features_stride32(x8)
        out_large = self.conv15(self.conv14(x13))
        # [route] layers=-4 (layer 13), then [route] layers=-1, 8.
        x = torch.cat((self.upsample(self.conv18(x13)), x8), dim=1)
        out_medium = self.conv22(self.conv21(x))
        return out_large, out_medium

    def darknet_convs(self) -> list[ConvBNAct]:
        convs = [m for m in self.features_stride16 if isinstance(m, ConvBNAct)]
        convs.append(self.conv8)
        convs += [m for m in self.features_stride32 if isinstance(m, ConvBNAct)]
        convs += [self.conv14, self.conv15, self.conv18, self.conv21, self.conv22]
        return convs
