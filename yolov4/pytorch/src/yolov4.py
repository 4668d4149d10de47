"""YOLOv4 (yolov4.cfg): CSPDarknet53 (Mish), SPP + PANet neck and a three-scale head.

``forward`` returns the three raw ``[yolo]`` input maps in cfg order (strides 8, 16, 32), each
``(B, 3 * (5 + num_classes), H / stride, W / stride)``; decoding is left to
``detection.postprocess_detections`` so the network stays exportable.
"""

import torch
from torch import nn

from ....darknet.blocks import ConvBNAct
from ....tasks.detection import YoloLayerSpec
from .downsample1 import DownSample1
from .downsample2 import DownSample2
from .downsample3 import DownSample3
from .downsample4 import DownSample4
from .downsample5 import DownSample5
from .head import Head
from .neck import Neck

ANCHORS = (12, 16, 19, 36, 40, 28, 36, 75, 76, 55, 72, 146, 142, 110, 192, 243, 459, 401)

# The three [yolo] sections of yolov4.cfg (AlexeyAB), in cfg order.
YOLO_LAYERS = (
    YoloLayerSpec.from_cfg(ANCHORS, mask=(0, 1, 2), stride=8, scale_x_y=1.2),
    YoloLayerSpec.from_cfg(ANCHORS, mask=(3, 4, 5), stride=16, scale_x_y=1.1),
    YoloLayerSpec.from_cfg(ANCHORS, mask=(6, 7, 8), stride=32, scale_x_y=1.05),
)


class YoloV4(nn.Module):
    """yolov4.cfg: 110 conv layers (cfg layers 0-161).

    64,363,101 parameters; its ``.weights`` file holds 64,429,405 values (with BN running stats).
    The cfg lists backbone, neck and head in the order they run, so the ``.weights`` order is the
    forward order.
    """

    yolo_layers = YOLO_LAYERS

    def __init__(self, num_classes: int = 80):
        super().__init__()
        self.num_classes = num_classes
        self.down1 = DownSample1()
        self.down2 = DownSample2()
        self.down3 = DownSample3()
        self.down4 = DownSample4()
        self.down5 = DownSample5()
        self.neck = Neck()
        self.head = Head(len(YOLO_LAYERS[0].anchors), num_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c3 = self.down3(self.down2(self.down1(x)))
        c4 = self.down4(c3)
        c5 = self.down5(c4)
        return self.head(*self.neck(c3, c4, c5))

    def darknet_convs(self) -> list[ConvBNAct]:
        return [
            *self.down1.darknet_convs(),
            *self.down2.darknet_convs(),
            *self.down3.darknet_convs(),
            *self.down4.darknet_convs(),
            *self.down5.darknet_convs(),
            *self.neck.darknet_convs(),
            *self.head.darknet_convs(),
        ]
