"""YOLOv3 (yolov3.cfg): Darknet-53 and a three-scale head, 416x416 default input.

``forward`` returns the three raw ``[yolo]`` input maps in cfg order (strides 32, 16, 8), each
``(B, 3 * (5 + num_classes), H / stride, W / stride)``; decoding is left to
``detection.postprocess_detections`` so the network stays exportable.
"""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct, Upsample2x, five_convs, head_conv
from ....tasks.detection import YoloLayerSpec
from .darknet53 import Darknet53

ANCHORS = (10, 13, 16, 30, 33, 23, 30, 61, 62, 45, 59, 119, 116, 90, 156, 198, 373, 326)

# The three [yolo] sections of yolov3.cfg, in cfg order.
YOLO_LAYERS = (
    YoloLayerSpec.from_cfg(ANCHORS, mask=(6, 7, 8), stride=32),
    YoloLayerSpec.from_cfg(ANCHORS, mask=(3, 4, 5), stride=16),
    YoloLayerSpec.from_cfg(ANCHORS, mask=(0, 1, 2), stride=8),
)


class YoloV3Branch(nn.Module):
    """Five alternating 1x1/3x3 convs, then a 3x3 conv and the linear 1x1 output conv.

    Returns the raw output and the fifth conv's map, which the next scale routes from
    (``[route] layers=-4``).
    """

    def __init__(self, in_channels: int, channels: int, num_anchors: int, num_classes: int):
        super().__init__()
        self.convs = five_convs(in_channels, channels)
        self.conv_out1 = ConvBNAct(channels, 2 * channels, 3)
        self.conv_out2 = head_conv(2 * channels, num_anchors, num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        route = self.convs(x)
        return self.conv_out2(self.conv_out1(route)), route

    def darknet_convs(self) -> list[ConvBNAct]:
        return [*self.convs, self.conv_out1, self.conv_out2]


class YoloV3(nn.Module):
    """yolov3.cfg: 75 conv layers (cfg layers 0-106).

    61,949,149 parameters; its ``.weights`` file holds 62,001,757 values (with BN running stats).
    """

    yolo_layers = YOLO_LAYERS

    def __init__(self, num_classes: int = 80):
        super().__init__()
        self.num_classes = num_classes
        anchors = len(YOLO_LAYERS[0].anchors)
        self.backbone = Darknet53()
        self.branch_large = YoloV3Branch(1024, 512, anchors, num_classes)  # layers 75-82
        self.lateral_medium = ConvBNAct(512, 256, 1)  # layer 84
        self.upsample = Upsample2x()
        self.branch_medium = YoloV3Branch(256 + 512, 256, anchors, num_classes)  # layers 87-94
        self.lateral_small = ConvBNAct(256, 128, 1)  # layer 96
        self.branch_small = YoloV3Branch(128 + 256, 128, anchors, num_classes)  # layers 99-106

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3, c4, c5 = self.backbone(x)
        out_large, route = self.branch_large(c5)
        # [route] layers=-1, 61: the upsampled map first, then the backbone's.
        x = torch.cat((self.upsample(self.lateral_medium(route)), c4), dim=1)
        out_medium, route = self.branch_medium(x)
        x = torch.cat((self.upsample(self.lateral_small(route)), c3), dim=1)
        out_small, _ = self.branch_small(x)
        return out_large, out_medium, out_small

    def darknet_convs(self) -> list[ConvBNAct]:
        return [
            *self.backbone.darknet_convs(),
            *self.branch_large.darknet_convs(),
            self.lateral_medium,
            *self.branch_medium.darknet_convs(),
            self.lateral_small,
            *self.branch_small.darknet_convs(),
        ]
