"""YOLOv4 backbone stage 3: yolov4.cfg layers 24-54 (stride 8, 256 channels out)."""

from .csp_stage import CSPStage


class DownSample3(CSPStage):
    """A CSP stage from 128 to 256 channels with 8 residual blocks."""

    def __init__(self):
        super().__init__(128, 256, num_blocks=8)
