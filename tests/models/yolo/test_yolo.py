"""YOLO loaders: Darknet weights through every route of the policy, inputs, and decoded boxes.

The release files cannot be fetched here, so the tests write real ``.weights`` files from seeded
random models and feed them through the same code the release files take: a local path, a torch
hub cache filled by hand, and a download (from a ``file://`` URL, with the real torch downloader).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import warnings
from pathlib import Path

import pytest
import torch

from tt_forge_models import CorruptWeightsError, WeightsFallbackWarning, WeightsUnavailableError
from tt_forge_models.darknet.weights_file import DarknetWeightsError, write_darknet_weights
from tt_forge_models.tasks.detection import LETTERBOX_FILL, LetterboxParams
from tt_forge_models.weights import save_safetensors
from tt_forge_models.yolov3 import pytorch as yolov3
from tt_forge_models.yolov4 import pytorch as yolov4

# One variant per network config, at its smallest size.
NETWORKS = {
    "yolov3": (yolov3, "yolov3_416"),
    "yolov3-tiny": (yolov3, "yolov3_tiny_320"),
    "yolov4": (yolov4, "yolov4_416"),
    "yolov4-tiny": (yolov4, "yolov4_tiny_320"),
}
TINY = ["yolov3-tiny", "yolov4-tiny"]
# Forward passes compare weights, not resolution: the smallest input every network takes.
SMALL = (3, 128, 128)


def _loader(network: str):
    module, variant = NETWORKS[network]
    return module.ModelLoader(variant)


def _forward(loader, model) -> tuple[torch.Tensor, ...]:
    with torch.no_grad():
        return model(loader.load_inputs(batch_size=1, input_size=SMALL))


def _same_outputs(a, b) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _declare(monkeypatch, loader_module, variant: str, **fields) -> None:
    """Replace fields of a variant row's weights record for one test (rows are frozen; the table is not)."""
    table = loader_module.ModelLoader._VARIANTS
    member = loader_module.ModelVariant(variant)
    row = table[member]
    monkeypatch.setitem(table, member, dataclasses.replace(row, weights=dataclasses.replace(row.weights, **fields)))


def _written(network: str, path: Path, seed: int = 5):
    """A seeded random model of ``network`` and its ``.weights`` file at ``path``."""
    loader = _loader(network)
    model = loader.load_model(weights="random", seed=seed)
    write_darknet_weights(model, path)
    return loader, model


# ---- the variant tables ------------------------------------------------------------------------


@pytest.mark.parametrize("module", [yolov3, yolov4], ids=["yolov3", "yolov4"])
def test_rows_declare_release_files_and_sizes(module):
    for variant, config in module.ModelLoader._VARIANTS.items():
        assert config.weights.url.startswith("https://") and config.weights.url.endswith(".weights")
        assert len(config.weights.sha256) == 64 and int(config.weights.sha256, 16) >= 0
        channels, height, width = config.inputs.image_size
        assert channels == 3 and height == width and height % 32 == 0
        assert str(height) in str(variant)  # the size in the name is the size in the row
        if config.test.input_size is not None:
            assert config.test.input_size[1] < height
    sizes = {c.pretrained_model_name: set() for c in module.ModelLoader._VARIANTS.values()}
    for config in module.ModelLoader._VARIANTS.values():
        sizes[config.pretrained_model_name].add(config.inputs.image_size[1])
    assert len(sizes) == 2 and all(len(s) == 2 for s in sizes.values())


# ---- local .weights files ----------------------------------------------------------------------


@pytest.mark.parametrize("network", list(NETWORKS))
def test_weights_file_round_trip_through_load_model(network, tmp_path):
    path = tmp_path / f"{network}.weights"
    loader, saved = _written(network, path)
    loaded = loader.load_model(weights=path)
    assert loader.weights_source == f"local:{path}"
    assert not loaded.training
    assert _same_state(saved, loaded)
    assert _same_outputs(_forward(loader, saved), _forward(loader, loaded))
    # Straight into bf16: every value is the saved one rounded once.
    bf16 = loader.load_model(weights=str(path), dtype_override=torch.bfloat16)
    for (name, got), want in zip(bf16.state_dict().items(), saved.state_dict().values()):
        assert got.dtype == (torch.bfloat16 if want.is_floating_point() else want.dtype), name
        assert torch.equal(got, want.to(got.dtype)), name


def test_truncated_and_overlong_weights_files_are_rejected_with_the_counts(tmp_path):
    path = tmp_path / "full.weights"
    loader, saved = _written("yolov4-tiny", path)
    needed = (path.stat().st_size - 20) // 4
    data = path.read_bytes()

    truncated = tmp_path / "truncated.weights"
    truncated.write_bytes(data[:-400])
    with pytest.raises(DarknetWeightsError, match="too short") as err:
        loader.load_model(weights=truncated)
    assert f"holds {needed - 100} float values" in str(err.value)
    assert f"the model needs {needed}" in str(err.value)
    assert isinstance(err.value, CorruptWeightsError) and isinstance(err.value, ValueError)

    overlong = tmp_path / "overlong.weights"
    overlong.write_bytes(data + b"\0" * 8)
    with pytest.raises(DarknetWeightsError, match=f"holds {needed + 2} float values.*needs {needed}"):
        loader.load_model(weights=overlong)

    # Another network's file: the same error, naming both counts.
    other = tmp_path / "v3tiny.weights"
    _written("yolov3-tiny", other)
    with pytest.raises(DarknetWeightsError, match=f"needs {needed}"):
        loader.load_model(weights=other)


def test_missing_and_unknown_local_files(tmp_path):
    loader = _loader("yolov4-tiny")
    with pytest.raises(FileNotFoundError, match="absent.weights"):
        loader.load_model(weights=tmp_path / "absent.weights")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptWeightsError, match="junk.bin"):
        loader.load_model(weights=junk)


def test_converted_safetensors_round_trip(tmp_path):
    loader, saved = _written("yolov3-tiny", tmp_path / "yolov3-tiny.weights")
    from_darknet = loader.load_model(weights=tmp_path / "yolov3-tiny.weights")
    converted = save_safetensors(from_darknet, tmp_path / "c.safetensors")
    loaded = loader.load_model(weights=converted, dtype_override=torch.bfloat16)
    assert loader.weights_source == f"local:{converted}"
    assert all(p.dtype == torch.bfloat16 for p in loaded.parameters())
    assert _same_state(loader.load_model(weights=converted), saved)
    # Converted weights of another network name the mismatch.
    with pytest.raises(CorruptWeightsError, match="YoloV4Tiny"):
        _loader("yolov4-tiny").load_model(weights=converted)


def test_export_folder_round_trip(tmp_path):
    from tt_forge_models.weights import write_export_folder

    loader, saved = _written("yolov4-tiny", tmp_path / "yolov4-tiny.weights")
    record = {"model": "yolov4", "variant": "yolov4_tiny_320"}
    out = write_export_folder(loader.load_model(weights=tmp_path / "yolov4-tiny.weights"), tmp_path / "out", record)
    assert _same_state(loader.load_model(weights=out), saved)
    assert loader.weights_source == f"local:{out}"
    with pytest.raises(CorruptWeightsError, match="holds an export of yolov4 variant 'yolov4_tiny_320'"):
        yolov4.ModelLoader("yolov4_tiny_416").load_model(weights=out)


def test_unknown_load_model_keywords_are_rejected():
    with pytest.raises(TypeError, match="num_layers"):
        _loader("yolov4-tiny").load_model(weights="random", num_layers=2)


# ---- pretrained: the torch hub cache and the download ------------------------------------------


@pytest.mark.parametrize("network", TINY)
def test_pretrained_from_a_filled_torch_hub_cache_offline(network, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")
    module, variant = NETWORKS[network]
    url = module.ModelLoader._VARIANTS[module.ModelVariant(variant)].weights.url
    cached = tmp_path / "torch" / "hub" / "checkpoints" / Path(url).name
    cached.parent.mkdir(parents=True)
    _, saved = _written(network, cached)

    # The file is ours, not the release: with the release's digest it is refused...
    loader = module.ModelLoader(variant)
    assert loader.source.is_cached()
    with pytest.raises(CorruptWeightsError, match=_sha256(cached)):
        loader.load_model(weights="pretrained")

    # ...and with its own digest declared in the row it is the pretrained weights.
    _declare(monkeypatch, module, variant, sha256=_sha256(cached))
    loader = module.ModelLoader(variant)
    loaded = loader.load_model(weights="pretrained")
    assert loader.weights_source == "pretrained"
    assert _same_outputs(_forward(loader, saved), _forward(loader, loaded))
    with warnings.catch_warnings():
        warnings.simplefilter("error", WeightsFallbackWarning)
        loader.load_model(weights="auto", dtype_override=torch.bfloat16)
    assert loader.weights_source == "pretrained"


def test_pretrained_offline_and_not_cached_fails_fast_or_falls_back(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")
    loader = yolov4.ModelLoader("yolov4_608")
    assert not loader.source.is_cached()
    with pytest.raises(WeightsUnavailableError) as err:
        loader.load_model(weights="pretrained")
    message = str(err.value)
    remedy = (str(tmp_path / "empty"), "weights='random'")
    for part in ("yolov4_608", "yolov4.weights", "darknet_yolo_v3_optimal", *remedy):
        assert part in message

    tiny = yolov3.ModelLoader("yolov3_tiny_416")
    with pytest.warns(WeightsFallbackWarning) as record:
        tiny.load_model(weights="auto")
    assert len([w for w in record if w.category is WeightsFallbackWarning]) == 1
    assert "yolov3-tiny.weights" in str(record[0].message)
    assert tiny.weights_source == "random"


def test_download_lands_verified_in_the_torch_hub_cache(tmp_path, monkeypatch):
    """The real torch downloader on a file:// URL: the path a release file takes, minus network."""
    release = tmp_path / "release" / "yolov4-tiny.weights"
    release.parent.mkdir()
    _, saved = _written("yolov4-tiny", release)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("TT_FORGE_MODELS_OFFLINE", raising=False)
    cached = tmp_path / "torch" / "hub" / "checkpoints" / "yolov4-tiny.weights"

    # A wrong digest: refused, and nothing is left in the cache.
    _declare(monkeypatch, yolov4, "yolov4_tiny_320", url=release.as_uri(), sha256="0" * 64)
    with pytest.raises(CorruptWeightsError, match="sha256"):
        yolov4.ModelLoader("yolov4_tiny_320").load_model(weights="pretrained")
    assert not cached.exists() and not list(cached.parent.glob("*"))

    _declare(monkeypatch, yolov4, "yolov4_tiny_320", sha256=_sha256(release))
    loader = yolov4.ModelLoader("yolov4_tiny_320")
    loader.source.prefetch()
    assert cached.read_bytes() == release.read_bytes()
    loaded = loader.load_model(weights="pretrained")
    assert loader.weights_source == "pretrained"
    assert _same_outputs(_forward(loader, saved), _forward(loader, loaded))

    # A cached file changed afterwards is caught by the full check on load.
    cached.write_bytes(cached.read_bytes()[:-4] + b"\1\2\3\4")
    with pytest.raises(CorruptWeightsError, match=f"has sha256 {_sha256(cached)}.*Delete it"):
        loader.load_model(weights="pretrained")


def test_source_checks_what_a_row_declares():
    from tt_forge_models.darknet.source import DarknetSource

    network = _loader("yolov4-tiny")._network()
    for bad in ("0x" + "a" * 62, "a" * 63, "g" * 64, "a" * 32 + "_" + "a" * 31):
        with pytest.raises(ValueError, match="64 hex digits"):
            DarknetSource(network, name="yolov4-tiny", url="https://example.com/x.weights", sha256=bad)
    no_url = DarknetSource(network, name="yolov4-tiny", url=None, sha256=None)
    assert "no sha256" in no_url.describe() and not no_url.is_cached()
    with pytest.raises(WeightsUnavailableError, match="no release URL"):
        no_url.load_pretrained(dtype=None, offline=False)


# ---- inputs ------------------------------------------------------------------------------------


def test_inputs_are_the_letterboxed_photograph():
    loader = yolov4.ModelLoader("yolov4_608")
    x = loader.load_inputs(batch_size=2)
    assert x.shape == (2, 3, 608, 608) and x.dtype == torch.float32
    assert 0 <= x.min() and x.max() <= 1 and torch.equal(x[0], x[1])
    params = loader.letterbox_params
    assert (params.original_width, params.original_height) == (512, 512)
    assert (params.input_width, params.input_height, params.scale) == (608, 608, 608 / 512)

    # A wide input keeps the aspect: the square photograph is centred between gray bars.
    wide = loader.load_inputs(input_size=(3, 256, 416))
    assert wide.shape == (1, 3, 256, 416) and loader.letterbox_params.pad_x == 80
    assert torch.all(wide[..., :80] == LETTERBOX_FILL) and torch.all(wide[..., 336:] == LETTERBOX_FILL)
    assert not torch.all(wide[..., 80:336] == LETTERBOX_FILL)


@pytest.mark.parametrize("size", [(3, 300, 300), (1, 320, 320), (3, 320), "416", (3, 0, 32)])
def test_input_size_must_fit_the_network(size):
    with pytest.raises(ValueError, match="multiples of 32") as err:
        yolov3.ModelLoader().load_inputs(input_size=size)
    assert repr(size) in str(err.value)


# ---- outputs -----------------------------------------------------------------------------------


def _one_detection(loader, input_size, *, cls, cell, twh=(0.0, 0.0)):
    """Raw outputs for ``input_size`` with one confident box in ``cell`` of the first scale."""
    layers = loader._network().yolo_layers
    _, height, width = input_size
    outputs = [torch.full((1, 3 * 85, height // s.stride, width // s.stride), -20.0) for s in layers]
    gy, gx = cell
    attrs = outputs[0].view(1, 3, 85, *outputs[0].shape[-2:])
    attrs[0, 0, 0:2, gy, gx] = 0.0  # centred in its cell
    attrs[0, 0, 2:4, gy, gx] = torch.tensor(twh)
    attrs[0, 0, 4, gy, gx] = 10.0
    attrs[0, 0, 5 + cls, gy, gx] = 10.0
    spec = layers[0]
    centre = [(gx + 0.5) * spec.stride, (gy + 0.5) * spec.stride]
    size = [spec.anchors[0][0] * math.exp(twh[0]), spec.anchors[0][1] * math.exp(twh[1])]
    return tuple(outputs), centre, size


@pytest.mark.parametrize("module", [yolov3, yolov4], ids=["yolov3", "yolov4"])
def test_decode_maps_boxes_back_to_the_photograph(module):
    loader = module.ModelLoader()
    size = (3, 256, 416)  # wide, so the letterbox pads left and right
    loader.load_inputs(input_size=size)
    stride = loader._network().yolo_layers[0].stride
    middle = (256 // stride // 2, 416 // stride // 2)
    outputs, (cx, cy), (w, h) = _one_detection(loader, size, cls=0, cell=middle)
    (detections,) = loader.decode_output(outputs)
    assert len(detections) == 1
    det = detections[0]
    assert det["class_name"] == "person" and det["class_id"] == 0
    assert det["score"] == pytest.approx(torch.sigmoid(torch.tensor(10.0)).item() ** 2)
    assert det["box"] == pytest.approx(_in_photograph((cx, cy), (w, h)), abs=1e-3)
    assert all(0 < v < 512 for v in det["box"])
    # A box running past the input is clipped to the photograph.
    big, centre, wh = _one_detection(loader, size, cls=2, cell=(0, 0), twh=(4.0, 4.0))
    (clipped,) = loader.decode_output(big)
    assert clipped[0]["class_name"] == "car"
    assert clipped[0]["box"] == pytest.approx(_in_photograph(centre, wh), abs=1e-3)
    assert clipped[0]["box"][:2] == [0.0, 0.0]


def _in_photograph(centre, size, *, scale=256 / 512, pad_x=80.0):
    """An input-pixel box mapped back through the (3, 256, 416) letterbox and clipped to 512x512."""
    (cx, cy), (w, h) = centre, size
    x1, x2 = ((cx - w / 2 - pad_x) / scale, (cx + w / 2 - pad_x) / scale)
    y1, y2 = ((cy - h / 2) / scale, (cy + h / 2) / scale)
    return [min(max(v, 0.0), 512.0) for v in (x1, y1, x2, y2)]


@pytest.mark.parametrize("network", TINY)
def test_decode_of_random_weights_stays_inside_the_photograph(network):
    loader = _loader(network)
    model = loader.load_model(weights="random")
    with torch.no_grad():
        outputs = model(loader.load_inputs(batch_size=2))
    decoded = loader.decode_output(outputs, conf_threshold=0.01, max_detections=300)
    assert len(decoded) == 2 and len(decoded[0]) == 300
    for det in decoded[0]:
        x1, y1, x2, y2 = det["box"]
        assert 0 <= x1 <= x2 <= 512 and 0 <= y1 <= y2 <= 512
        assert 0.01 < det["score"] <= 1 and isinstance(det["class_name"], str)
    scores = [d["score"] for d in decoded[0]]
    assert scores == sorted(scores, reverse=True)


def test_decode_refuses_params_of_another_input_size():
    loader = yolov4.ModelLoader("yolov4_tiny_416")
    loader.load_inputs()  # 416x416
    outputs, *_ = _one_detection(loader, (3, 320, 320), cls=0, cell=(3, 3))
    with pytest.raises(ValueError, match="320x320 input but the letterbox params are for a 416x416"):
        loader.decode_output(outputs)
    params = LetterboxParams(scale=320 / 512, pad_x=0.0, pad_y=0.0, original_width=512, original_height=512)
    assert len(loader.decode_output(outputs, letterbox_params=params)[0]) == 1
    with pytest.raises(TypeError, match="raw maps"):
        loader.decode_output(loader.unpack_forward_output(outputs))


def test_training_step_reaches_the_first_layer():
    loader = _loader("yolov4-tiny")
    model = loader.load_model(weights="random").train()
    flat = loader.unpack_forward_output(model(loader.load_inputs(batch_size=2, input_size=SMALL)))
    assert flat.shape == (2, 255 * (4 * 4 + 8 * 8))
    flat.float().square().mean().backward()
    grad = model.conv0.conv.weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize(
    "variant",
    [pytest.param((m, v), id=f"{m.__name__.split('.')[-2]}-{v}") for m in (yolov3, yolov4) for v in m.ModelVariant],
)
def test_fp32_forward_at_the_deployment_size(variant):
    """The generic tests run reduced inputs; this runs each variant at its own size, in fp32."""
    module, name = variant
    loader = module.ModelLoader(name)
    size = loader.get_variant_config().inputs.image_size[1]
    model = loader.load_model(weights="random")
    with torch.no_grad():
        outputs = model(loader.load_inputs())
    strides = sorted({size // o.shape[-1] for o in outputs})
    assert all(o.shape[:2] == (1, 255) and o.shape[-1] * (size // o.shape[-1]) == size for o in outputs)
    assert strides in ([16, 32], [8, 16, 32]) and all(torch.isfinite(o).all() for o in outputs)
