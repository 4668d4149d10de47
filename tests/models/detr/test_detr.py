"""The DETR family: the shipped config, set-prediction decoding checked exactly, the documented
preprocessing, the random build (seeded, frozen batch norms at identity, no backbone download) and
pretrained weights from a Hugging Face cache the test fills itself, with the hub off.

Forward passes here run at tiny inputs (64 x 96): what they check does not depend on the size.
"""

from __future__ import annotations

import json
import math
import os
import socket
import warnings
from pathlib import Path

import pytest
import torch

import tt_forge_models
from tt_forge_models.detr import ModelLoader, ModelVariant
from tt_forge_models.errors import PreprocessorFallbackWarning
from tt_forge_models.tasks.labels import COCO_91_CATEGORIES, COCO_CLASSES, COCO_UNANNOTATED
from tt_forge_models.tasks.object_detection import decode_set_predictions, split_outputs

from helpers import run_python

PACKAGE_ROOT = str(Path(tt_forge_models.__path__[0]).parent)
ROW = ModelLoader._VARIANTS[ModelVariant.RESNET_50]
CONFIG_FILE = Path(tt_forge_models.__path__[0]) / "detr" / "pytorch" / ROW.weights.config_file
TINY = (3, 64, 96)  # chelsea.jpg (451 x 300) resized into it: 64 x 96
CHELSEA = (300, 451)  # (height, width)
# DETR's published preprocessing, written out here independently of the package: the model card
# ("resized such that the shortest side is at least 800 pixels and the largest side at most 1333
# pixels, and normalized across the RGB channels with the ImageNet mean and standard deviation").
DOCUMENTED = {
    "size": {"shortest_edge": 800, "longest_edge": 1333},
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
}
# preprocessor_config.json of facebook/detr-resnet-50 (the legacy DetrFeatureExtractor form).
HUB_PREPROCESSOR = {
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "DetrFeatureExtractor",
    "format": "coco_detection",
    "image_mean": [0.485, 0.456, 0.406],
    "image_std": [0.229, 0.224, 0.225],
    "max_size": 1333,
    "size": 800,
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")


@pytest.fixture(scope="module")
def random_model():
    """One seed-0 random build, without dropout, shared by the tests that only run it."""
    return ModelLoader().load_model(weights="random", dropout=0.0)


def _inputs(loader, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        return loader.load_inputs(**kwargs)


# ---- the table and the shipped config --------------------------------------------------------------


def test_row_and_shipped_config():
    assert ModelLoader.DEFAULT_VARIANT == ModelVariant.RESNET_50 == "resnet50_backbone"
    assert ROW.weights.repo_id == "facebook/detr-resnet-50" and ROW.weights.model_class == "DetrForObjectDetection"
    assert ROW.task == "cv_object_det" and ROW.group == "red"
    assert ROW.inputs.image_size == (3, 800, 1333) and ROW.test.input_size == (3, 192, 320)
    data = json.loads(CONFIG_FILE.read_text())
    # The hub file: a timm ResNet-50 that config asks to be pretrained; transformers 5 ignores that.
    assert (data["backbone"], data["use_timm_backbone"], data["use_pretrained_backbone"]) == ("resnet50", True, True)
    config = ModelLoader().load_config()
    assert config.backbone_config.model_type == "timm_backbone" and config.backbone_config.backbone == "resnet50"
    assert config.backbone_config.use_pretrained_backbone is False
    assert (config.num_queries, config.d_model, config.encoder_layers, config.decoder_layers) == (100, 256, 6, 6)
    assert config.num_labels == 91
    # The file holds the encoder depth twice (encoder_layers, num_hidden_layers): either keyword cuts it.
    assert ModelLoader().load_config(encoder_layers=1, decoder_layers=2).encoder_layers == 1
    assert ModelLoader().load_config(num_layers=2).encoder_layers == 2


def test_labels_are_cocos_91_category_ids():
    """The shipped id2label is COCO's 91-id scheme: N/A at 0, the 80 annotated classes at COCO's
    ids under COCO's names, the paper's names at the 10 ids no annotation uses."""
    data = json.loads(CONFIG_FILE.read_text())
    assert {int(k): v for k, v in data["id2label"].items()} == dict(enumerate(COCO_91_CATEGORIES))
    assert data["label2id"] == {name: i for i, name in enumerate(COCO_91_CATEGORIES)}
    assert ModelLoader().categories() == COCO_91_CATEGORIES
    assert len(COCO_91_CATEGORIES) == 91 and COCO_91_CATEGORIES[0] == "N/A"
    # COCO's own ids of some classes (instances_val2017.json): person 1, cat 17, tv 72, toothbrush 90.
    assert [COCO_91_CATEGORIES[i] for i in (1, 4, 17, 63, 64, 67, 72, 90)] == [
        "person", "motorcycle", "cat", "couch", "potted plant", "dining table", "tv", "toothbrush"
    ]  # fmt: skip
    annotated = [name for i, name in enumerate(COCO_91_CATEGORIES) if i and i not in COCO_UNANNOTATED]
    assert len(annotated) == len(COCO_CLASSES) == 80
    assert sum(a != b for a, b in zip(annotated, COCO_CLASSES)) == 6  # Darknet's renames (motorbike, sofa...)


# ---- decoding, checked on hand-made outputs --------------------------------------------------------------


def _crafted(batch=1, queries=5):
    """Outputs where every query predicts "no object" with certainty."""
    logits = torch.full((batch, queries, 92), -10.0)
    logits[..., -1] = 10.0
    boxes = torch.full((batch, queries, 4), 0.5)
    return logits, boxes


def test_one_confident_query_maps_to_its_box_in_image_pixels():
    logits, boxes = _crafted()
    logits[0, 3, 17], logits[0, 3, -1] = 10.0, -10.0  # query 3: a cat
    boxes[0, 3] = torch.tensor([0.5, 0.5, 0.5, 0.4])  # cx, cy, w, h relative to the image
    [detections] = ModelLoader().decode_output({"logits": logits, "pred_boxes": boxes})
    assert len(detections) == 1
    cat = detections[0]
    assert cat["class_id"] == 17 and cat["class_name"] == "cat"
    # chelsea.jpg is 451 x 300: x0 = (0.5 - 0.25) * 451, y0 = (0.5 - 0.2) * 300, ...
    assert cat["box"] == pytest.approx([112.75, 90.0, 338.25, 210.0], abs=1e-4)
    # softmax over all 92 classes, the no-object one included: e^10 / (e^10 + 91 e^-10)
    assert cat["score"] == pytest.approx(1 / (1 + 91 * math.exp(-20)), rel=1e-6)


def test_threshold_no_object_clipping_order_and_sizes():
    logits, boxes = _crafted(batch=2)
    logits[0, 0, 1], logits[0, 0, -1] = 10.0, 10.0  # person vs no object: 0.5 each
    logits[0, 1, 62], logits[0, 1, -1] = 10.0, -10.0  # a chair, certain
    boxes[0, 1] = torch.tensor([0.9, 0.1, 0.4, 0.4])  # reaches past the right and top edges
    logits[0, 2, 5], logits[0, 2, -1] = 10.0, 10.0 - math.log(3)  # airplane 0.75 vs no object 0.25
    logits[1, 4, 88], logits[1, 4, -1] = 10.0, -10.0  # image 2: a teddy bear
    boxes[1, 4] = torch.tensor([0.25, 0.75, 0.5, 0.5])
    sizes = [(300, 400), (100, 200)]
    first, second = ModelLoader().decode_output((logits, boxes), target_sizes=sizes)
    assert [d["class_name"] for d in first] == ["chair", "airplane"]  # best first; the person (0.5) is out
    assert first[0]["box"] == pytest.approx([280.0, 0.0, 400.0, 90.0])  # clipped to the 400 x 300 image
    assert first[1]["score"] == pytest.approx(0.75, rel=1e-6)
    assert second[0]["class_name"] == "teddy bear" and second[0]["box"] == pytest.approx([0.0, 50.0, 100.0, 100.0])
    lower = ModelLoader().decode_output((logits, boxes), target_sizes=sizes, threshold=0.4)[0]
    assert [d["class_name"] for d in lower] == ["chair", "airplane", "person"]
    assert lower[2]["score"] == pytest.approx(0.5, rel=1e-6)


def test_decode_equals_transformers_post_processing():
    """On seeded random outputs, the same detections as DetrImageProcessor's
    post_process_object_detection (with boxes clipped to the image, and best first)."""
    import transformers
    from transformers.models.detr.modeling_detr import DetrObjectDetectionOutput

    generator = torch.Generator().manual_seed(0)
    outputs = DetrObjectDetectionOutput(
        logits=torch.randn(2, 100, 92, generator=generator) * 4,
        pred_boxes=torch.rand(2, 100, 4, generator=generator),
    )
    sizes = [CHELSEA, (480, 640)]
    ours = ModelLoader().decode_output(outputs, threshold=0.3, target_sizes=sizes)
    theirs = transformers.DetrImageProcessor().post_process_object_detection(
        outputs, threshold=0.3, target_sizes=torch.tensor(sizes)
    )
    assert all(len(image) >= 5 for image in ours)
    for mine, reference, (height, width) in zip(ours, theirs, sizes):
        order = reference["scores"].argsort(descending=True, stable=True)
        assert [d["class_id"] for d in mine] == reference["labels"][order].tolist()
        assert [d["score"] for d in mine] == pytest.approx(reference["scores"][order].tolist(), rel=1e-6)
        clipped = reference["boxes"][order].clone()
        clipped[:, 0::2] = clipped[:, 0::2].clamp(0, width)
        clipped[:, 1::2] = clipped[:, 1::2].clamp(0, height)
        assert torch.tensor([d["box"] for d in mine]) == pytest.approx(clipped, abs=1e-3)
        assert any(b != c for d, c in zip(mine, reference["boxes"][order].tolist()) for b in d["box"])


def test_output_forms_and_unpack(random_model):
    loader, model = ModelLoader(), random_model
    inputs = _inputs(loader, input_size=TINY)
    with torch.no_grad():
        outputs = model(**inputs)
        as_tuple = model(**inputs, return_dict=False)
    pair = (outputs.logits, outputs.pred_boxes)  # what tt-forge-fe's DetrWrapper returns
    for form in (as_tuple, pair, dict(outputs)):
        assert all(torch.equal(a, b) for a, b in zip(split_outputs(form), pair))
    unpacked = loader.unpack_forward_output(outputs)
    assert unpacked.shape == (1, 100, 92 + 4)
    assert torch.equal(unpacked[..., :92], outputs.logits) and torch.equal(unpacked[..., 92:], outputs.pred_boxes)
    assert loader.target_size == CHELSEA
    assert loader.decode_output(outputs, threshold=0.0)[0][0]["box"][2] <= CHELSEA[1]


def test_decode_refuses_bad_outputs_and_arguments():
    loader = ModelLoader()
    logits, boxes = _crafted()
    with pytest.raises(TypeError, match="decode_output takes"):
        loader.decode_output(None)
    with pytest.raises(TypeError, match="logits and pred_boxes"):
        loader.decode_output(logits)
    with pytest.raises(ValueError, match=r"\(batch, queries, 4\)"):
        loader.decode_output((logits, boxes[..., :3]))
    with pytest.raises(ValueError, match="92 classes but 80"):
        decode_set_predictions(logits, boxes, [CHELSEA], class_names=COCO_CLASSES)
    for bad, error in ((1.5, ValueError), (-0.1, ValueError), ("0.5", TypeError), (True, TypeError)):
        with pytest.raises(error, match="threshold"):
            loader.decode_output((logits, boxes), threshold=bad)
    with pytest.raises(ValueError, match="2 target sizes for a batch of 1"):
        loader.decode_output((logits, boxes), target_sizes=[CHELSEA, CHELSEA])
    with pytest.raises(TypeError, match="one \\(height, width\\) per image"):
        loader.decode_output((logits, boxes), target_sizes=[300])
    with pytest.raises(TypeError, match="unknown keyword"):
        loader.decode_output((logits, boxes), top_k=3)


# ---- inputs -------------------------------------------------------------------------------------------


def test_inputs_equal_the_documented_processor_with_one_warning():
    import transformers
    from PIL import Image

    picture = Image.open(Path(tt_forge_models.__path__[0]) / "assets" / "chelsea.jpg").convert("RGB")
    loader = ModelLoader()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = loader.load_inputs(batch_size=2)
        again = loader.load_inputs(batch_size=1, input_size=ROW.test.input_size, dtype_override=torch.bfloat16)
    assert [w.category for w in caught] == [PreprocessorFallbackWarning], [str(w.message) for w in caught]
    reference = transformers.DetrImageProcessor(**DOCUMENTED)(images=picture, return_tensors="pt")
    assert inputs["pixel_values"].shape == (2, 3, 800, 1202)  # 451 x 300 with the shortest side at 800
    for key in ("pixel_values", "pixel_mask"):
        assert torch.equal(inputs[key], reference[key].expand_as(inputs[key]))
    assert inputs["pixel_mask"].dtype == torch.int64 and bool(inputs["pixel_mask"].all())
    reduced = transformers.DetrImageProcessor(**{**DOCUMENTED, "size": {"shortest_edge": 192, "longest_edge": 320}})
    expected = reduced(images=picture, return_tensors="pt")
    assert again["pixel_values"].shape == (1, 3, 192, 288) and again["pixel_values"].dtype == torch.bfloat16
    assert torch.equal(again["pixel_values"], expected["pixel_values"].to(torch.bfloat16))
    assert again["pixel_mask"].dtype == torch.int64  # masks are never cast


def test_input_size_and_image_are_checked():
    loader = ModelLoader()
    for bad in ((3, 400, 300), (1, 64, 96), (3, 0, 96), (3, 64.0, 96), "3,64,96", (3, 64)):
        with pytest.raises(ValueError, match="shortest_edge, longest_edge"):
            _inputs(loader, input_size=bad)
    square = _inputs(loader, input_size=TINY, image="astronaut.jpg")
    assert square["pixel_values"].shape == (1, 3, 64, 64) and loader.target_size == (512, 512)
    with pytest.raises(ValueError, match="no sample image"):
        _inputs(loader, image="nope.jpg")


# ---- random weights --------------------------------------------------------------------------------


def test_random_build_is_seeded_with_frozen_batch_norms_at_identity(random_model):
    """Parameters and buffers alike: the frozen batch norms' weight, bias and statistics are
    buffers that transformers' init pass leaves alone, so a meta build must set them itself."""
    from transformers.models.detr.modeling_detr import DetrFrozenBatchNorm2d

    loader = ModelLoader()
    first, second = random_model, loader.load_model(weights="random", dropout=0.0)
    frozen = [m for m in first.modules() if isinstance(m, DetrFrozenBatchNorm2d)]
    assert len(frozen) == 53  # every batch norm of the ResNet-50, frozen
    for module in frozen:
        assert torch.equal(module.weight, torch.ones_like(module.weight))
        assert torch.equal(module.running_var, torch.ones_like(module.running_var))
        assert not module.bias.any() and not module.running_mean.any()
    a, b = first.state_dict(), second.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        out = first(**_inputs(loader, input_size=TINY))
    assert torch.isfinite(out.logits).all() and out.logits.std() > 0.1


def test_random_build_fetches_no_backbone(monkeypatch):
    """With the hub off and every socket refused, the random build succeeds and timm is asked
    for an untrained ResNet-50 only."""
    import timm

    asked = []
    create = timm.create_model

    def recording(name, *args, **kwargs):
        asked.append((name, kwargs.get("pretrained", False)))
        return create(name, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError("the DETR build tried to open a network connection")

    monkeypatch.setattr(timm, "create_model", recording)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    loader = ModelLoader()
    model = loader.load_model(weights="random")
    # The build, and the construction that gives the frozen batch norms their constructor values
    # (buffers transformers' init leaves to a checkpoint): both untrained, neither fetching.
    assert asked and set(asked) == {("resnet50", False)} and loader.weights_source == "random"
    assert sum(p.numel() for p in model.parameters()) == ROW.num_params
    built = len(asked)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = ModelLoader().load_model()  # auto: nothing cached, so random
    assert any(w.category.__name__ == "WeightsFallbackWarning" for w in caught) and len(asked) > built
    assert set(asked) == {("resnet50", False)}, "every backbone timm was asked for is untrained"


def test_every_parameter_gets_a_gradient(random_model):
    """Why unpack_forward_output is both heads: from the logits alone, the box head (bbox_predictor)
    would get no gradient in a training step. (Some gradients are zero by DETR's design: the first
    decoder layer's self-attention sees identical zero queries, so its q/k projections get none.)"""
    loader, model = ModelLoader(), random_model
    model.train()
    outputs = model(**_inputs(loader, input_size=TINY))
    model.eval()
    outputs.logits.sum().backward(retain_graph=True)
    assert all(p.grad is None for p in model.bbox_predictor.parameters())
    model.zero_grad(set_to_none=True)
    loader.unpack_forward_output(outputs).sum().backward()
    assert all(p.requires_grad for p in model.parameters())  # transformers 5 freezes no backbone stage
    assert not [n for n, p in model.named_parameters() if p.grad is None]
    assert all(p.grad.any() for p in model.bbox_predictor.parameters())
    assert model.model.backbone.model.conv1.weight.grad.any()
    model.zero_grad(set_to_none=True)


# ---- pretrained weights from a cache the test fills ---------------------------------------------------------


def test_pretrained_and_processor_from_a_private_hf_cache(tmp_path):
    """A Hugging Face cache holding a DETR at the pinned revision (a narrower one: ResNet-18, one
    layer each side, as the config keywords say) and the published preprocessor_config.json: the
    weights load exactly, the processor is the cache's (no fallback warning) and preprocesses as
    the documented constants do, and neither touches the network nor asks timm for weights."""
    import transformers
    from safetensors.torch import save_file

    org, name = ROW.pretrained_model_name.split("/")
    repo = tmp_path / "hub" / f"models--{org}--{name}"
    snapshot = repo / "snapshots" / ROW.weights.revision
    narrow = {"backbone": "resnet18", "encoder_layers": 1, "decoder_layers": 1}
    config = ModelLoader().load_config(**narrow)
    torch.manual_seed(0)
    original = transformers.DetrForObjectDetection(config)
    # save_pretrained writes the published checkpoint's tensor names (backbone.conv_encoder.model.*,
    # out_proj, fc1...), which loading renames back: the reference is the module's own state dict.
    original.save_pretrained(snapshot)
    expected_file = tmp_path / "expected.safetensors"
    save_file({k: v.contiguous() for k, v in original.state_dict().items()}, str(expected_file))
    (snapshot / "preprocessor_config.json").write_text(json.dumps(HUB_PREPROCESSOR))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(ROW.weights.revision)

    out = run_python(
        f"""
        import json, socket, warnings
        import timm, torch, transformers
        from safetensors.torch import load_file

        asked = []
        create = timm.create_model
        timm.create_model = lambda name, *a, **k: asked.append(k.get("pretrained", False)) or create(name, *a, **k)
        def refuse(*args, **kwargs):
            raise AssertionError("network")
        socket.socket.connect = refuse

        from tt_forge_models.detr import ModelLoader
        from tt_forge_models.inputs.vision import sample_image
        loader = ModelLoader()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = loader.load_model(weights="pretrained", **{narrow!r})
            inputs = loader.load_inputs(batch_size=1)
        saved = load_file({str(expected_file)!r})
        state = model.state_dict()
        expected = transformers.DetrImageProcessor(**{DOCUMENTED!r})(images=sample_image(), return_tensors="pt")
        with torch.no_grad():
            logits = model(**inputs).logits
        print(json.dumps({{
            "source": loader.weights_source,
            "equal": sorted(saved) == sorted(state) and all(torch.equal(state[k], v) for k, v in saved.items()),
            "encoder_layers": len(model.model.encoder.layers),
            "processor": type(loader.image_processor).__name__,
            "same_inputs": all(torch.equal(inputs[k], expected[k]) for k in ("pixel_values", "pixel_mask")),
            "finite": bool(torch.isfinite(logits).all()),
            "asked": asked,
            "warnings": [w.category.__name__ for w in caught if "Fallback" in w.category.__name__],
        }}))
        """,
        env={
            "HF_HOME": str(tmp_path),
            "HF_HUB_CACHE": str(tmp_path / "hub"),
            "HF_HUB_OFFLINE": "1",
            "TT_FORGE_MODELS_OFFLINE": "1",
            "PYTHONPATH": PACKAGE_ROOT,
            "TRANSFORMERS_VERBOSITY": "error",
        },
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["source"] == "pretrained" and report["equal"] and report["encoder_layers"] == 1
    assert report["processor"].startswith("DetrImageProcessor") and report["same_inputs"], report
    assert report["finite"] and report["asked"] and not any(report["asked"]) and report["warnings"] == []
    assert os.listdir(tmp_path / "hub") == [f"models--{org}--{name}"]  # nothing else was fetched
