"""The Darknet networks and their weights format.

The proof that each network is exactly the Darknet one: the number of float values its
``.weights`` file must hold equals what the official file holds (its size minus the 20-byte header,
divided by 4), and its conv layers, in file order, match the cfg section by section.
"""

import importlib
import os

import pytest
import torch

from tt_forge_models.darknet.weights_file import (
    DarknetWeightsError,
    count_darknet_values,
    darknet_header_size,
    darknet_layers,
    read_darknet_weights,
    write_darknet_weights,
)
from tt_forge_models.errors import CorruptWeightsError
from tt_forge_models.weights.files import check_state_dict_keys, read_state_dict, save_safetensors

# name: (module, class, official .weights size in bytes, trainable parameters)
NETWORKS = {
    "yolov3": ("yolov3.pytorch.src.yolov3", "YoloV3", 248_007_048, 61_949_149),
    "yolov3-tiny": ("yolov3.pytorch.src.yolov3_tiny", "YoloV3Tiny", 35_434_956, 8_852_366),
    "yolov4": ("yolov4.pytorch.src.yolov4", "YoloV4", 257_717_640, 64_363_101),
    "yolov4-tiny": ("yolov4.pytorch.src.yolov4_tiny", "YoloV4Tiny", 24_251_276, 6_056_606),
}

# Each conv section of the cfg in order, as in>out, kernel, stride, b(atch norm), activation
# (l)eaky / (m)ish / li(n)ear; in-channels follow the cfg's routes and shortcuts. Derived by walking
# the official cfg files, independently of the model code.
CFG_CONVS = {
    "yolov3": (
        "3>32k3s1bl 32>64k3s2bl 64>32k1s1bl 32>64k3s1bl 64>128k3s2bl 128>64k1s1bl 64>128k3s1bl "
        "128>64k1s1bl 64>128k3s1bl 128>256k3s2bl 256>128k1s1bl 128>256k3s1bl 256>128k1s1bl "
        "128>256k3s1bl 256>128k1s1bl 128>256k3s1bl 256>128k1s1bl 128>256k3s1bl 256>128k1s1bl "
        "128>256k3s1bl 256>128k1s1bl 128>256k3s1bl 256>128k1s1bl 128>256k3s1bl 256>128k1s1bl "
        "128>256k3s1bl 256>512k3s2bl 512>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>512k3s1bl "
        "512>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>512k3s1bl "
        "512>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>512k3s1bl "
        "512>1024k3s2bl 1024>512k1s1bl 512>1024k3s1bl 1024>512k1s1bl 512>1024k3s1bl "
        "1024>512k1s1bl 512>1024k3s1bl 1024>512k1s1bl 512>1024k3s1bl 1024>512k1s1bl "
        "512>1024k3s1bl 1024>512k1s1bl 512>1024k3s1bl 1024>512k1s1bl 512>1024k3s1bl 1024>255k1s1n "
        "512>256k1s1bl 768>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>512k3s1bl 512>256k1s1bl "
        "256>512k3s1bl 512>255k1s1n 256>128k1s1bl 384>128k1s1bl 128>256k3s1bl 256>128k1s1bl "
        "128>256k3s1bl 256>128k1s1bl 128>256k3s1bl 256>255k1s1n"
    ),
    "yolov3-tiny": (
        "3>16k3s1bl 16>32k3s1bl 32>64k3s1bl 64>128k3s1bl 128>256k3s1bl 256>512k3s1bl "
        "512>1024k3s1bl 1024>256k1s1bl 256>512k3s1bl 512>255k1s1n 256>128k1s1bl 384>256k3s1bl "
        "256>255k1s1n"
    ),
    "yolov4": (
        "3>32k3s1bm 32>64k3s2bm 64>64k1s1bm 64>64k1s1bm 64>32k1s1bm 32>64k3s1bm 64>64k1s1bm "
        "128>64k1s1bm 64>128k3s2bm 128>64k1s1bm 128>64k1s1bm 64>64k1s1bm 64>64k3s1bm 64>64k1s1bm "
        "64>64k3s1bm 64>64k1s1bm 128>128k1s1bm 128>256k3s2bm 256>128k1s1bm 256>128k1s1bm "
        "128>128k1s1bm 128>128k3s1bm 128>128k1s1bm 128>128k3s1bm 128>128k1s1bm 128>128k3s1bm "
        "128>128k1s1bm 128>128k3s1bm 128>128k1s1bm 128>128k3s1bm 128>128k1s1bm 128>128k3s1bm "
        "128>128k1s1bm 128>128k3s1bm 128>128k1s1bm 128>128k3s1bm 128>128k1s1bm 256>256k1s1bm "
        "256>512k3s2bm 512>256k1s1bm 512>256k1s1bm 256>256k1s1bm 256>256k3s1bm 256>256k1s1bm "
        "256>256k3s1bm 256>256k1s1bm 256>256k3s1bm 256>256k1s1bm 256>256k3s1bm 256>256k1s1bm "
        "256>256k3s1bm 256>256k1s1bm 256>256k3s1bm 256>256k1s1bm 256>256k3s1bm 256>256k1s1bm "
        "256>256k3s1bm 256>256k1s1bm 512>512k1s1bm 512>1024k3s2bm 1024>512k1s1bm 1024>512k1s1bm "
        "512>512k1s1bm 512>512k3s1bm 512>512k1s1bm 512>512k3s1bm 512>512k1s1bm 512>512k3s1bm "
        "512>512k1s1bm 512>512k3s1bm 512>512k1s1bm 1024>1024k1s1bm 1024>512k1s1bl 512>1024k3s1bl "
        "1024>512k1s1bl 2048>512k1s1bl 512>1024k3s1bl 1024>512k1s1bl 512>256k1s1bl 512>256k1s1bl "
        "512>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>512k3s1bl 512>256k1s1bl 256>128k1s1bl "
        "256>128k1s1bl 256>128k1s1bl 128>256k3s1bl 256>128k1s1bl 128>256k3s1bl 256>128k1s1bl "
        "128>256k3s1bl 256>255k1s1n 128>256k3s2bl 512>256k1s1bl 256>512k3s1bl 512>256k1s1bl "
        "256>512k3s1bl 512>256k1s1bl 256>512k3s1bl 512>255k1s1n 256>512k3s2bl 1024>512k1s1bl "
        "512>1024k3s1bl 1024>512k1s1bl 512>1024k3s1bl 1024>512k1s1bl 512>1024k3s1bl 1024>255k1s1n"
    ),
    "yolov4-tiny": (
        "3>32k3s2bl 32>64k3s2bl 64>64k3s1bl 32>32k3s1bl 32>32k3s1bl 64>64k1s1bl 128>128k3s1bl "
        "64>64k3s1bl 64>64k3s1bl 128>128k1s1bl 256>256k3s1bl 128>128k3s1bl 128>128k3s1bl "
        "256>256k1s1bl 512>512k3s1bl 512>256k1s1bl 256>512k3s1bl 512>255k1s1n 256>128k1s1bl "
        "384>256k3s1bl 256>255k1s1n"
    ),
}

_ACTIVATION_LETTERS = {"LeakyReLU": "l", "Mish": "m", "Identity": "n"}


def _network_class(name):
    module, cls, _, _ = NETWORKS[name]
    return getattr(importlib.import_module(f"tt_forge_models.{module}"), cls)


def _build(name, *, device=None):
    cls = _network_class(name)
    if device is None:
        return cls().eval()
    with torch.device(device):
        return cls().eval()


def _randomize(model, seed):
    """Fill every floating tensor with seeded values (positive variances), in place."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                values = torch.rand(tensor.shape, generator=generator) * 2 - 1
                if name.endswith("running_var"):
                    values = values.abs() + 0.5
                tensor.copy_(values)
    return model


def _assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


def _snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model, snapshot):
    for key, tensor in model.state_dict().items():
        assert torch.equal(tensor, snapshot[key]), f"{key} changed"


# Counts and layer order, on the meta device (no memory, no time).


@pytest.mark.parametrize("name", NETWORKS)
def test_value_count_equals_official_weights_file(name):
    _, _, file_bytes, _ = NETWORKS[name]
    model = _build(name, device="meta")
    assert darknet_header_size(0, 2) == 20
    assert count_darknet_values(model) == (file_bytes - 20) // 4
    assert (file_bytes - 20) % 4 == 0


@pytest.mark.parametrize("name", NETWORKS)
def test_parameter_count(name):
    model = _build(name, device="meta")
    assert sum(p.numel() for p in model.parameters()) == NETWORKS[name][3]


@pytest.mark.parametrize("name", NETWORKS)
def test_conv_order_matches_cfg(name):
    model = _build(name, device="meta")
    signature = [
        f"{conv.in_channels}>{conv.out_channels}k{conv.kernel_size[0]}s{conv.stride[0]}"
        f"{'b' if bn is not None else ''}"
        f"{_ACTIVATION_LETTERS[type(layer.act).__name__]}"
        for (conv, bn), layer in zip(darknet_layers(model), model.darknet_convs(), strict=True)
    ]
    assert signature == CFG_CONVS[name].split()
    # Every conv of the module is in the file exactly once.
    all_convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert {id(c) for c, _ in darknet_layers(model)} == {id(c) for c in all_convs}


def test_model_without_darknet_order_is_rejected():
    with pytest.raises(TypeError, match="darknet_convs"):
        count_darknet_values(torch.nn.Conv2d(3, 8, 3))


# Reading and writing .weights; yolov4-tiny keeps the files small (24 MB).


def test_round_trip_is_exact(tmp_path):
    source = _randomize(_build("yolov4-tiny"), seed=1)
    path = tmp_path / "yolov4-tiny.weights"
    written = write_darknet_weights(source, path, seen=123_456_789_012)
    expected_bytes = 20 + 4 * count_darknet_values(source)
    assert written == expected_bytes == os.path.getsize(path) == NETWORKS["yolov4-tiny"][2]

    target = _randomize(_build("yolov4-tiny"), seed=2)
    header = read_darknet_weights(target, path)
    assert (header.major, header.minor, header.revision, header.seen) == (0, 2, 0, 123_456_789_012)
    _assert_same_state(source, target)

    # Writing what was read gives back the same bytes.
    again = tmp_path / "again.weights"
    write_darknet_weights(target, again, seen=header.seen)
    assert again.read_bytes() == path.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_read_casts_into_bf16_and_fills_meta(tmp_path):
    source = _randomize(_build("yolov4-tiny"), seed=3)
    path = tmp_path / "w.weights"
    write_darknet_weights(source, path)

    bf16 = _build("yolov4-tiny").to(torch.bfloat16)
    read_darknet_weights(bf16, path)
    meta = _build("yolov4-tiny", device="meta")
    read_darknet_weights(meta, path)
    for key, tensor in source.state_dict().items():
        assert bf16.state_dict()[key].dtype == (torch.bfloat16 if tensor.is_floating_point() else tensor.dtype)
        assert torch.equal(bf16.state_dict()[key], tensor.to(bf16.state_dict()[key].dtype))
        assert meta.state_dict()[key].device.type == "cpu"
        assert torch.equal(meta.state_dict()[key], tensor)


@pytest.mark.parametrize(
    "change, problem, actual",
    [
        (lambda data: data[:-4], "too short", "6062813 float values"),
        (lambda data: data + b"\0" * 8, "too long", "6062816 float values"),
        (lambda data: data + b"\0" * 2, "too long", "6062814 float values and 2 stray bytes"),
        (lambda data: data[:10], "too short for a Darknet header", "10 bytes"),
    ],
)
def test_wrong_size_is_rejected_and_model_untouched(tmp_path, change, problem, actual):
    path = tmp_path / "bad.weights"
    write_darknet_weights(_randomize(_build("yolov4-tiny"), seed=4), path)
    path.write_bytes(change(path.read_bytes()))

    model = _randomize(_build("yolov4-tiny"), seed=5)
    before = _snapshot(model)
    with pytest.raises(DarknetWeightsError) as info:
        read_darknet_weights(model, path)
    message = str(info.value)
    assert problem in message and actual in message and str(path) in message
    if "header" not in problem:
        assert "the model needs 6062814" in message
    assert isinstance(info.value, ValueError)
    _assert_unchanged(model, before)


def test_weights_of_another_network_are_rejected(tmp_path):
    path = tmp_path / "v3tiny.weights"
    write_darknet_weights(_build("yolov3-tiny"), path)
    model = _build("yolov4-tiny")
    before = _snapshot(model)
    with pytest.raises(DarknetWeightsError, match="8858734 float values.*needs 6062814"):
        read_darknet_weights(model, path)
    _assert_unchanged(model, before)


def test_missing_file_names_the_path(tmp_path):
    path = tmp_path / "nowhere.weights"
    with pytest.raises(FileNotFoundError, match="nowhere.weights"):
        read_darknet_weights(_build("yolov4-tiny", device="meta"), path)


@pytest.mark.parametrize(
    "major, minor, header_bytes",
    [(0, 2, 20), (0, 1, 16), (1, 0, 20), (1000, 0, 16), (0, 1000, 16)],
)
def test_header_versions(tmp_path, major, minor, header_bytes):
    """`seen` is int64 from version 0.2 on (Darknet's rule), int32 before and for huge versions."""
    source = _randomize(_build("yolov3-tiny"), seed=6)
    path = tmp_path / "v.weights"
    write_darknet_weights(source, path, major=major, minor=minor, revision=7, seen=2**31 - 5)
    assert os.path.getsize(path) == header_bytes + 4 * count_darknet_values(source)
    assert path.read_bytes()[:12] == (
        major.to_bytes(4, "little") + minor.to_bytes(4, "little") + (7).to_bytes(4, "little")
    )
    target = _build("yolov3-tiny")
    header = read_darknet_weights(target, path)
    assert (header.major, header.minor, header.revision, header.seen) == (
        major,
        minor,
        7,
        2**31 - 5,
    )
    _assert_same_state(source, target)


def test_seen_must_fit_the_header(tmp_path):
    model = _build("yolov4-tiny")
    with pytest.raises(ValueError, match="seen"):
        write_darknet_weights(model, tmp_path / "x.weights", minor=1, seen=2**31)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import tt_forge_models.weights.files as files

    def fail(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        write_darknet_weights(_build("yolov4-tiny"), tmp_path / "x.weights")
    assert list(tmp_path.iterdir()) == []


def test_meta_model_cannot_be_written(tmp_path):
    with pytest.raises(ValueError, match="meta"):
        write_darknet_weights(_build("yolov4-tiny", device="meta"), tmp_path / "x.weights")
    assert list(tmp_path.iterdir()) == []


# Converted weights are plain state dicts: the package's one safetensors path reads and checks them.


def _load_checked(model, path):
    state = read_state_dict(path)
    check_state_dict_keys(model, state, origin=str(path))
    model.load_state_dict(state, assign=any(t.is_meta for t in model.state_dict().values()))
    return model


def test_safetensors_round_trip(tmp_path):
    source = _randomize(_build("yolov4-tiny"), seed=7)
    path = save_safetensors(source, tmp_path / "w.safetensors")
    target = _load_checked(_randomize(_build("yolov4-tiny"), seed=8), path)
    _assert_same_state(source, target)
    meta = _load_checked(_build("yolov4-tiny", device="meta"), path)
    weight = meta.conv0.conv.weight
    assert weight.device.type == "cpu" and torch.equal(weight, source.conv0.conv.weight)


def test_safetensors_mismatch_and_corruption(tmp_path):
    path = save_safetensors(_build("yolov3-tiny"), tmp_path / "v3tiny.safetensors")
    model = _build("yolov4-tiny")
    with pytest.raises(CorruptWeightsError, match="v3tiny.safetensors does not match YoloV4Tiny: .* missing"):
        check_state_dict_keys(model, read_state_dict(path), origin=str(path))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(CorruptWeightsError, match="corrupt.safetensors"):
        read_state_dict(corrupt)
    with pytest.raises(FileNotFoundError, match="absent.safetensors"):
        read_state_dict(tmp_path / "absent.safetensors")


def test_safetensors_shape_mismatch(tmp_path):
    path = save_safetensors(_network_class("yolov4-tiny")(num_classes=1), tmp_path / "w.safetensors")
    with pytest.raises(CorruptWeightsError, match=r"wrong shape \(e.g. conv29.conv"):
        check_state_dict_keys(_build("yolov4-tiny"), read_state_dict(path), origin=str(path))


# Forward passes: raw [yolo] maps of the right shape, finite. Small inputs keep CPU time low.


@pytest.mark.parametrize("name, size", [("yolov3", 256), ("yolov3-tiny", 320), ("yolov4", 256), ("yolov4-tiny", 320)])
def test_forward_shapes(name, size):
    torch.manual_seed(0)
    model = _build(name)
    with torch.no_grad():
        outputs = model(torch.rand(1, 3, size, size))
    assert isinstance(outputs, tuple) and len(outputs) == len(model.yolo_layers)
    for out, spec in zip(outputs, model.yolo_layers, strict=True):
        assert out.shape == (1, 3 * 85, size // spec.stride, size // spec.stride)
        assert torch.isfinite(out).all()


def test_yolov4_tiny_exports():
    model = _build("yolov4-tiny")
    exported = torch.export.export(model, (torch.rand(1, 3, 64, 64),))
    outputs = exported.module()(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outputs] == [(1, 255, 2, 2), (1, 255, 4, 4)]
