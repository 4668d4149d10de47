"""YOLOv4 backbone stage 5: yolov4.cfg layers 86-104 (stride 32, 1024 channels out)."""

from .csp_stage import CSPStage


class DownSample5(CSPStage):
    """A CSP stage from 512 to 1024 channels with 4 residual blocks."""

    def __init__(self):
        super().__init__(512, 1024, num_blocks=4)
