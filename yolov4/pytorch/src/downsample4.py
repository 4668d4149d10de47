"""YOLOv4 backbone stage 4: yolov4.cfg layers 55-85 (stride 16, 512 channels out)."""

from .csp_stage import CSPStage


class DownSample4(CSPStage):
    """A CSP stage from 256 to 512 channels with 8 residual blocks."""

    def __init__(self):
        super().__init__(256, 512, num_blocks=8)
