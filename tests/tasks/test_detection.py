"""YOLO post-processing: letterbox, decoding, class-aware NMS, mapping back to original pixels."""

import math

import pytest
import torch

from tt_forge_models.tasks.detection import (
    LetterboxParams,
    YoloLayerSpec,
    decode_yolo_outputs,
    letterbox,
    postprocess_detections,
)
from tt_forge_models.tasks.labels import COCO_CLASSES
from tt_forge_models.yolov3.pytorch.src.yolov3 import YOLO_LAYERS as YOLOV3_LAYERS
from tt_forge_models.yolov4.pytorch.src.yolov4 import YOLO_LAYERS as YOLOV4_LAYERS
from tt_forge_models.yolov4.pytorch.src.yolov4_tiny import YOLO_LAYERS as YOLOV4_TINY_LAYERS

NUM_ATTRS = 5 + 80
OFF = -20.0  # a logit whose sigmoid is ~2e-9: nothing there


def _logit(p):
    return math.log(p / (1 - p))


def _empty_outputs(layers, size):
    return [torch.full((1, 3 * NUM_ATTRS, size // s.stride, size // s.stride), OFF) for s in layers]


def _put(out, anchor, gy, gx, *, obj, cls, prob, txy=(0.0, 0.0), twh=(0.0, 0.0)):
    base = anchor * NUM_ATTRS
    out[0, base + 0, gy, gx], out[0, base + 1, gy, gx] = txy
    out[0, base + 2, gy, gx], out[0, base + 3, gy, gx] = twh
    out[0, base + 4, gy, gx] = _logit(obj)
    out[0, base + 5 + cls, gy, gx] = _logit(prob)


def test_cfg_anchors():
    assert [s.anchors for s in YOLOV3_LAYERS] == [
        ((116, 90), (156, 198), (373, 326)),
        ((30, 61), (62, 45), (59, 119)),
        ((10, 13), (16, 30), (33, 23)),
    ]
    assert [(s.stride, s.scale_x_y) for s in YOLOV4_LAYERS] == [(8, 1.2), (16, 1.1), (32, 1.05)]
    assert YOLOV4_LAYERS[2].anchors == ((142, 110), (192, 243), (459, 401))
    assert YOLOV4_TINY_LAYERS[1].anchors == ((23, 27), (37, 58), (81, 82))
    assert len(COCO_CLASSES) == 80 and COCO_CLASSES[16] == "dog"


def test_decode_matches_darknet_formula():
    spec = YoloLayerSpec(anchors=((10.0, 20.0), (30.0, 40.0)), stride=8, scale_x_y=1.2)
    raw = torch.zeros(1, 2 * 6, 2, 3)  # 1 class, 2x3 grid
    raw[0, 6 + 0, 1, 2] = 5.0  # anchor 1, cell (y=1, x=2): tx
    raw[0, 6 + 2, 1, 2] = math.log(2.0)  # tw -> twice the anchor width
    decoded = decode_yolo_outputs([raw], [spec])
    assert decoded.shape == (1, 2 * 2 * 3, 6)
    row = decoded[0, 1 * 6 + 1 * 3 + 2]  # anchor-major, then y, then x
    s = 1.2
    cx = (2 + torch.sigmoid(torch.tensor(5.0)) * s - 0.5 * (s - 1)) * 8
    cy = (1 + 0.5 * s - 0.5 * (s - 1)) * 8
    expected = torch.tensor([cx - 30, cy - 20, cx + 30, cy + 20, 0.5, 0.5])
    torch.testing.assert_close(row, expected)


def test_postprocess_finds_maps_and_suppresses():
    size = 416
    outputs = _empty_outputs(YOLOV4_LAYERS, size)
    # A dog on the stride-16 map, cell (y=10, x=12), the middle anchor of that layer (76x55).
    _put(outputs[1], 1, 10, 12, obj=0.95, cls=16, prob=0.9)
    # The same dog seen by the neighbouring anchor with a lower score: suppressed by NMS.
    to_76x55 = (math.log(76 / 36), math.log(55 / 75))
    _put(outputs[1], 0, 10, 12, obj=0.8, cls=16, prob=0.8, twh=to_76x55)
    # A cat in the same place: another class, so NMS keeps it.
    to_76x55 = (math.log(76 / 72), math.log(55 / 146))
    _put(outputs[1], 2, 10, 12, obj=0.7, cls=15, prob=0.9, twh=to_76x55)
    # Below the threshold: objectness x class probability = 0.2.
    _put(outputs[0], 0, 3, 3, obj=0.4, cls=0, prob=0.5)

    # The original image was 832x624, letterboxed to 416: scale 0.5, 52 px of border top/bottom.
    params = LetterboxParams(scale=0.5, pad_x=0.0, pad_y=52.0, original_width=832, original_height=624)
    (detections,) = postprocess_detections(outputs, YOLOV4_LAYERS, letterbox_params=params)

    assert [d["class_name"] for d in detections] == ["dog", "cat"]
    dog = detections[0]
    assert dog["class_id"] == 16
    assert dog["score"] == pytest.approx(0.95 * 0.9, rel=1e-5)
    # Centre in the network input: ((12.5) * 16, (10.5) * 16) = (200, 168); size 76x55.
    cx, cy = 200.0, 168.0
    expected = [(cx - 38) / 0.5, (cy - 27.5 - 52) / 0.5, (cx + 38) / 0.5, (cy + 27.5 - 52) / 0.5]
    assert dog["box"] == pytest.approx(expected, abs=1e-3)

    # Without letterbox params the boxes stay in network-input pixels.
    (raw_dets,) = postprocess_detections(outputs, YOLOV4_LAYERS)
    assert raw_dets[0]["box"] == pytest.approx([cx - 38, cy - 27.5, cx + 38, cy + 27.5], abs=1e-3)


def test_postprocess_checks_its_arguments():
    outputs = _empty_outputs(YOLOV3_LAYERS, 64)
    with pytest.raises(ValueError, match="3 output maps for 2"):
        postprocess_detections(outputs, YOLOV3_LAYERS[:2])
    with pytest.raises(ValueError, match="80 classes but 2 class names"):
        postprocess_detections(outputs, YOLOV3_LAYERS, class_names=("a", "b"))
    assert postprocess_detections(outputs, YOLOV3_LAYERS) == [[]]


def test_letterbox_keeps_aspect_and_pads_gray():
    from PIL import Image

    image = Image.new("RGB", (640, 480), (255, 0, 0))
    tensor, params = letterbox(image, 416)
    assert tensor.shape == (3, 416, 416) and tensor.dtype == torch.float32
    assert (params.scale, params.pad_x, params.pad_y) == (0.65, 0.0, 52.0)
    assert (params.original_width, params.original_height) == (640, 480)
    assert torch.all(tensor[:, :52] == 0.5) and torch.all(tensor[:, 52 + 312 :] == 0.5)
    torch.testing.assert_close(tensor[:, 200, 200], torch.tensor([1.0, 0.0, 0.0]))

    tensor, params = letterbox(Image.new("L", (100, 300), 0), (320, 256))
    assert tensor.shape == (3, 256, 320)
    assert params.pad_x == (320 - 85) // 2 and params.pad_y == 0
