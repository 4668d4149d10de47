"""YOLOv4 backbone stage 2: yolov4.cfg layers 11-23 (stride 4, 128 channels out)."""

from .csp_stage import CSPStage


class DownSample2(CSPStage):
    """A CSP stage from 64 to 128 channels with 2 residual blocks."""

    def __init__(self):
        super().__init__(64, 128, num_blocks=2)
