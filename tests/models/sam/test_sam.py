"""The SAM family: the variant row, nested ``num_layers``, SAM's preprocessing and its documented
fallback, the point prompt, mask decoding on crafted outputs, the random-init correction, and
pretrained weights from a Hugging Face cache the test fills itself (the hub switched off)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
import transformers

import tt_forge_models
from tt_forge_models.config import ModelTask
from tt_forge_models.errors import PreprocessorFallbackWarning
from tt_forge_models.inputs.vision import sample_image
from tt_forge_models.sam import ModelLoader, ModelVariant
from tt_forge_models.tasks import mask_generation as mg
from tt_forge_models.testing import pcc

PACKAGE_ROOT = str(Path(tt_forge_models.__path__[0]).parent)
CAT = mg.ImageSizes(original=(300, 451), resized=(681, 1024), input=1024)
# SamImageProcessor's published preprocessor_config.json for facebook/sam-vit-base.
PREPROCESSOR_CONFIG = {
    "do_convert_rgb": True,
    "do_normalize": True,
    "do_pad": True,
    "do_rescale": True,
    "do_resize": True,
    "image_mean": [0.485, 0.456, 0.406],
    "image_processor_type": "SamImageProcessor",
    "image_std": [0.229, 0.224, 0.225],
    "pad_size": {"height": 1024, "width": 1024},
    "processor_class": "SamProcessor",
    "resample": 2,
    "rescale_factor": 0.00392156862745098,
    "size": {"longest_edge": 1024},
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")


def _inputs(loader, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        return loader.load_inputs(**kwargs)


def _processor():
    """SAM's own processor with its published settings (the class defaults, checked below)."""
    return transformers.SamProcessor(image_processor=transformers.SamImageProcessor(**PREPROCESSOR_CONFIG))


# ---- the row -----------------------------------------------------------------------------------


def test_the_row_is_upstreams_variant_on_a_pinned_revision():
    assert [str(v) for v in ModelVariant] == ["vit_base"] and ModelLoader.DEFAULT_VARIANT == ModelVariant.BASE
    row = ModelLoader.get_variant_config()
    assert row.task == ModelTask.CV_MASK_GEN and row.inputs.image_size == (3, 1024, 1024)
    assert row.weights.repo_id == "facebook/sam-vit-base" and row.weights.model_class == "SamModel"
    assert row.weights.revision == "70c1a07f894ebb5b307fd9eaaee97b9dfc16068f"
    assert ModelLoader.get_model_info().name == "pytorch_sam_vit_base_cv_mask_gen_huggingface"
    # The published 93,735,472 counts the point encoder's (2, 128) Gaussian as a buffer.
    model = ModelLoader().load_model(device="meta")
    gaussian = model.shared_image_embedding.positional_embedding
    assert isinstance(gaussian, torch.nn.Parameter) and gaussian.shape == (2, 128)
    assert row.num_params == 93_735_472 + gaussian.numel() == sum(p.numel() for p in model.parameters())
    shipped = transformers.SamProcessor(image_processor=transformers.SamImageProcessor())
    assert {k: shipped.image_processor.to_dict()[k] for k in ("size", "pad_size", "rescale_factor")} == {
        k: PREPROCESSOR_CONFIG[k] for k in ("size", "pad_size", "rescale_factor")
    }


# ---- nested num_layers ----------------------------------------------------------------------------


def test_num_layers_cuts_the_image_encoder_and_its_global_attention_indices():
    loader = ModelLoader()
    assert loader.load_config().vision_config.global_attn_indexes == [2, 5, 8, 11]
    for layers, kept in [(2, []), (3, [2]), (9, [2, 5, 8]), (12, [2, 5, 8, 11])]:
        config = loader.load_config(num_layers=layers)
        assert config.vision_config.num_hidden_layers == layers and config.vision_config.global_attn_indexes == kept
        assert config.mask_decoder_config.num_hidden_layers == 2, "the decoder is not cut"
    model = loader.load_model(device="meta", num_layers=6)
    assert [layer.window_size for layer in model.vision_encoder.layers] == [14, 14, 0, 14, 14, 0]
    assert len(model.mask_decoder.transformer.layers) == 2
    assert sum(p.numel() for p in loader.load_model(device="meta", num_layers=2).parameters()) == 22_771_248
    with pytest.raises(ValueError, match=r"<= 12, got 13"):
        loader.load_model(device="meta", num_layers=13)
    with pytest.raises(TypeError, match="num_layers"):
        loader.load_model(device="meta", num_layers="2")


# ---- inputs ------------------------------------------------------------------------------------------


def test_inputs_are_sams_processor_output_and_the_fallback_warns_once():
    loader = ModelLoader()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = loader.load_inputs(batch_size=2)
    fallbacks = [w for w in caught if issubclass(w.category, PreprocessorFallbackWarning)]
    assert len(fallbacks) == 1 and "documented constants" in str(fallbacks[0].message)
    assert set(inputs) == {"pixel_values", "input_points"}
    assert inputs["pixel_values"].shape == (2, 3, 1024, 1024) and inputs["input_points"].shape == (2, 1, 1, 2)
    assert inputs["input_points"].dtype == torch.float32
    reference = _processor()(images=sample_image("chelsea.jpg"), input_points=[[[225.0, 110.0]]], return_tensors="pt")
    assert torch.equal(inputs["pixel_values"][1], reference["pixel_values"][0]), "the same pixels, exactly"
    assert torch.equal(inputs["input_points"][1], reference["input_points"][0].float())
    assert loader.image_sizes == CAT
    assert reference["original_sizes"].tolist() == [list(CAT.original)]
    assert reference["reshaped_input_sizes"].tolist() == [list(CAT.resized)]
    assert inputs["pixel_values"][0, :, 681:].abs().sum() == 0, "zero padding below the photograph"


@pytest.mark.parametrize(
    "original, point",
    [((300, 451), (225.0, 110.0)), ((512, 512), (10.0, 500.0)), ((427, 640), (639.0, 0.0)), ((640, 427), (3.5, 7.25))],
)
def test_points_are_rescaled_by_samprocessors_rule(original, point):
    processor = _processor()
    sizes = mg.ImageSizes(original, mg.resized_shape(original, 1024), 1024)
    assert sizes.resized == processor.image_processor._get_preprocess_shape(original, longest_edge=1024)
    import numpy as np

    expected = processor._normalize_coordinates(1024, np.array([point]), original)[0]
    assert mg.rescale_point(point, sizes) == tuple(expected)


def test_the_point_prompt_can_be_chosen():
    loader = ModelLoader()
    mine = _inputs(loader, point=(100, 50))["input_points"][0, 0, 0].tolist()
    assert mine == pytest.approx([100 * 1024 / 451, 50 * 681 / 300], rel=1e-6)
    coffee = _inputs(loader, image="coffee.jpg")
    width, height = sample_image("coffee.jpg").size
    sizes = loader.image_sizes
    assert sizes.original == (height, width)
    assert coffee["input_points"][0, 0, 0].tolist() == pytest.approx(
        list(mg.rescale_point((width / 2, height / 2), sizes))
    )
    with pytest.raises(TypeError, match=r"point must be \(x, y\)"):
        loader.load_inputs(point="middle")
    with pytest.raises(TypeError, match=r"point must be \(x, y\)"):
        loader.load_inputs(point=(1, True))
    with pytest.raises(ValueError, match="outside the 451x300 image"):
        loader.load_inputs(point=(452, 10))


# ---- decoding ----------------------------------------------------------------------------------------


def _crafted():
    """Three mask logits on SAM's 256x256 grid: the left 100 columns, the top 100 rows, nothing."""
    masks = -torch.ones(1, 1, 3, 256, 256)
    masks[0, 0, 0, :, :100] = 1
    masks[0, 0, 1, :100, :] = 1
    return masks, torch.tensor([[[0.2, 0.9, 0.5]]])


def test_decode_gives_area_box_and_iou_in_the_photographs_pixels():
    masks, scores = _crafted()
    outputs = transformers.models.sam.modeling_sam.SamImageSegmentationOutput(iou_scores=scores, pred_masks=masks)
    decoded = ModelLoader().decode_output(outputs)
    # Column 100 of 256 is x = 400 of the 1024 frame and x = 176.2 of the 451-pixel photograph
    # (1024/451 per pixel): columns 0..175 are inside. Rows likewise: 681 of 1024 rows are the
    # photograph's 300, so rows 0..175.
    assert decoded == [
        [
            {"prompt": 0, "mask": 1, "iou": pytest.approx(0.9), "area": 176 * 451, "box": [0, 0, 450, 175]},
            {"prompt": 0, "mask": 2, "iou": pytest.approx(0.5), "area": 0, "box": None},
            {"prompt": 0, "mask": 0, "iou": pytest.approx(0.2), "area": 176 * 300, "box": [0, 0, 175, 299]},
        ]
    ]
    assert ModelLoader().decode_output({"pred_masks": torch.ones(1, 1, 3, 256, 256), "iou_scores": scores})[0][0][
        "area"
    ] == (300 * 451)


def test_decode_equals_samprocessors_post_processing():
    from transformers.models.sam.image_processing_sam import _batched_mask_to_box

    masks = torch.randn(2, 1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    masks[1] += 0.7  # the second image's masks larger
    scores = torch.rand(2, 1, 3, generator=torch.Generator().manual_seed(1))
    decoded = mg.decode_masks((scores, masks), CAT)  # the tuple form of a compiled model's outputs
    binary = _processor().post_process_masks(list(masks), [CAT.original] * 2, [CAT.resized] * 2)
    for image in range(2):
        by_mask = {record["mask"]: record for record in decoded[image]}
        assert [r["mask"] for r in decoded[image]] == scores[image, 0].argsort(descending=True).tolist()
        boxes = _batched_mask_to_box(binary[image])[0].tolist()
        for m in range(3):
            assert by_mask[m]["area"] == int(binary[image][0, m].sum())
            assert by_mask[m]["box"] == boxes[m]
            assert by_mask[m]["iou"] == float(scores[image, 0, m])
    assert decoded[0][0]["area"] < decoded[1][0]["area"]
    half = mg.decode_masks((scores.bfloat16(), masks.bfloat16()), CAT, mask_threshold=0.5)
    assert all(r["area"] < by["area"] for r, by in zip(half[1], decoded[1]))


def test_decode_refuses_what_is_no_mask_generators_output():
    masks, scores = _crafted()
    loader = ModelLoader()
    with pytest.raises(TypeError, match="pred_masks and iou_scores"):
        loader.decode_output(masks)
    with pytest.raises(ValueError, match=r"pred_masks must be \(batch, prompts, masks, height, width\)"):
        loader.decode_output({"pred_masks": masks[0], "iou_scores": scores})
    with pytest.raises(TypeError, match="mask_threshold"):
        loader.decode_output({"pred_masks": masks, "iou_scores": scores}, mask_threshold="0")
    with pytest.raises(TypeError):
        loader.decode_output(None)
    assert loader.unpack_forward_output({"pred_masks": masks, "iou_scores": scores}) is masks


# ---- random weights --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_layer():
    loader = ModelLoader()
    return loader, loader.load_model(weights="random", num_layers=1, seed=0)


def test_random_weights_make_the_masks_depend_on_the_image(one_layer):
    loader, model = one_layer
    gaussian = model.shared_image_embedding.positional_embedding.detach()
    assert (
        model.shared_image_embedding.positional_embedding is model.prompt_encoder.shared_embedding.positional_embedding
    ), "still tied"
    assert 0.5 < float(gaussian.std()) < 1.5  # transformers draws it at std 384
    assert 0.015 < float(model.vision_encoder.layers[0].mlp.lin1.weight.detach().std()) < 0.025  # not 1e-10
    cat, coffee = _inputs(loader), _inputs(loader, image="coffee.jpg")
    with torch.no_grad():
        embedding = model.get_image_embeddings(cat["pixel_values"])
        first, second = model(**cat).pred_masks, model(**coffee).pred_masks
    assert float(embedding.std()) > 0.1, "the image reaches the mask decoder"
    assert pcc(first, second) < 0.95, "another photograph gives other masks"


def test_transformers_own_random_init_is_what_the_correction_corrects():
    loader = ModelLoader()
    loader.source.random_init = None
    model = loader.load_model(weights="random", num_layers=1, seed=0)
    assert float(model.shared_image_embedding.positional_embedding.detach().std()) > 100
    with torch.no_grad():
        assert float(model.get_image_embeddings(_inputs(loader)["pixel_values"]).std()) < 1e-6


# ---- pretrained from a Hugging Face cache -------------------------------------------------------------


def test_pretrained_from_a_hub_cache_the_test_fills(tmp_path):
    """A cache at the pinned revision holding the published config, SAM's preprocessor config and
    the first two encoder layers' weights (what a cut load reads): ``num_layers=2`` loads it as
    "pretrained" with no fallback warning, and the processor from the cache gives the same inputs."""
    loader = ModelLoader()
    row = loader.get_variant_config()
    repo = tmp_path / "hub" / "models--facebook--sam-vit-base"
    snapshot = repo / "snapshots" / row.weights.revision
    seeded = loader.load_model(weights="random", num_layers=2, seed=11)
    seeded.save_pretrained(snapshot)
    shipped = Path(loader._loader_dir()) / row.weights.config_file
    (snapshot / "config.json").write_text(shipped.read_text())  # the published 12-layer config
    (snapshot / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(row.weights.revision)
    expected = tmp_path / "expected.pt"
    torch.save({k: v.clone() for k, v in seeded.state_dict().items()}, expected)
    fallback_inputs = _inputs(loader)

    code = textwrap.dedent(
        """
        import json, sys, warnings
        import torch
        from tt_forge_models.sam import ModelLoader

        loader = ModelLoader()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = loader.load_model(weights="pretrained", num_layers=2)
            inputs = loader.load_inputs()
        expected = torch.load(sys.argv[1], weights_only=True)
        state = model.state_dict()
        with torch.no_grad():
            outputs = loader.call_model(model, inputs)
        torch.save(inputs, sys.argv[2])
        print("RESULT " + json.dumps({
            "source": loader.weights_source,
            "keys": sorted(state) == sorted(expected),
            "equal": all(torch.equal(state[k], v) for k, v in expected.items()),
            "layers": len(model.vision_encoder.layers),
            "global": model.config.vision_config.global_attn_indexes,
            "warnings": [w.category.__name__ for w in caught if "Fallback" in w.category.__name__],
            "decoded": loader.decode_output(outputs),
        }))
        """
    )
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "TT_FORGE_MODELS_OFFLINE": "1",
        "PYTHONPATH": PACKAGE_ROOT,
    }
    env.pop("HF_HUB_CACHE", None)
    args = [str(expected), str(tmp_path / "inputs.pt")]
    proc = subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    report = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")).removeprefix("RESULT "))
    assert report["source"] == "pretrained" and report["keys"] and report["equal"]
    assert report["layers"] == 2 and report["global"] == [] and report["warnings"] == []
    assert len(report["decoded"][0]) == 3 and all(0 <= r["area"] <= 300 * 451 for r in report["decoded"][0])
    processed = torch.load(tmp_path / "inputs.pt", weights_only=True)
    for key, tensor in fallback_inputs.items():
        assert torch.equal(processed[key], tensor), f"the cached processor and the documented constants differ: {key}"
