"""The CLIP family on the zero-shot task base: the shipped architectures, preprocessing equal to
CLIP's image processor, prompts laid out as CLIP's tokenizer lays them out, the decode, the random
build's logit scale, and real weights from a Hugging Face cache the test fills itself.

Offline throughout (the suite's conftest switches the hub off). Forward passes here run a tiny
CLIP built from config keywords; the full-size ones run in the generic suite.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from tt_forge_models.clip import ModelLoader, ModelVariant
from tt_forge_models.config import ModelTask
from tt_forge_models.errors import PreprocessorFallbackWarning, WeightsUnavailableError
from tt_forge_models.inputs.vision import CLIP_MEAN, CLIP_STD, processor_transform, sample_image
from tt_forge_models.tasks.zero_shot_classification import (
    CLIP_BPE_SPECIAL_IDS,
    SAMPLE_LABELS,
    zero_shot_row,
)
from tt_forge_models.testing.schema import row_problems

from helpers import run_python

BOS, EOS, PAD = CLIP_BPE_SPECIAL_IDS["bos"], CLIP_BPE_SPECIAL_IDS["eos"], CLIP_BPE_SPECIAL_IDS["pad"]
# A CLIP small enough for a forward pass in milliseconds: config keywords of load_model.
TINY = {
    "projection_dim": 16,
    "text_config": {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "vocab_size": 49408,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "eos_token_id": 2,  # the legacy id of the vit_b_32 config: pooling at the largest id
        "projection_dim": 16,
    },
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 37,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "image_size": 224,
        "patch_size": 32,
        "hidden_act": "quick_gelu",
        "projection_dim": 16,
    },
}
# The image processor's published preprocessor_config.json (both repositories ship this one).
PREPROCESSOR_CONFIG = {
    "crop_size": 224,
    "do_center_crop": True,
    "do_normalize": True,
    "do_resize": True,
    "feature_extractor_type": "CLIPFeatureExtractor",
    "image_mean": list(CLIP_MEAN),
    "image_std": list(CLIP_STD),
    "resample": 3,
    "size": 224,
}


def _quiet_inputs(loader, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        return loader.load_inputs(**kwargs)


def _clip_image_processor():
    import transformers
    from transformers.image_utils import PILImageResampling

    return transformers.CLIPImageProcessor(
        size={"shortest_edge": 224},
        crop_size={"height": 224, "width": 224},
        resample=PILImageResampling.BICUBIC,
        image_mean=list(CLIP_MEAN),
        image_std=list(CLIP_STD),
    )


# ---- the table and the shipped architectures ---------------------------------------------------


@pytest.mark.parametrize(
    "variant, repo_id, sizes",
    [
        (ModelVariant.VIT_B_32, "openai/clip-vit-base-patch32", (512, 12, 8, 768, 12, 12, 32, 512)),
        (ModelVariant.VIT_L_14, "openai/clip-vit-large-patch14", (768, 12, 12, 1024, 24, 16, 14, 768)),
    ],
)
def test_rows_and_shipped_configs(variant, repo_id, sizes):
    loader = ModelLoader(variant)
    row = loader.get_variant_config()
    assert row.task == ModelTask.CV_ZS_IMAGE_CLS and row.pretrained_model_name == repo_id
    assert row.weights.model_class == "CLIPModel" and len(row.weights.revision) == 40
    config = loader.load_config()
    t, v = config.text_config, config.vision_config
    got = (
        t.hidden_size,
        t.num_hidden_layers,
        t.num_attention_heads,
        v.hidden_size,
        v.num_hidden_layers,
        v.num_attention_heads,
        v.patch_size,
        config.projection_dim,
    )
    assert got == sizes
    assert (t.vocab_size, t.max_position_embeddings, t.hidden_act, v.hidden_act) == (
        49408,
        77,
        "quick_gelu",
        "quick_gelu",
    )
    assert v.image_size == 224 and config.logit_scale_init_value == 2.6592
    assert ModelLoader.DEFAULT_VARIANT == ModelVariant.VIT_B_32  # upstream's default: Base_Patch32


def test_schema_checks_zero_shot_rows_against_the_shipped_config():
    loader_dir = ModelLoader._loader_dir()
    revision = "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"
    good = zero_shot_row("openai/clip-vit-base-patch32", revision, "CLIPModel", 1)
    assert row_problems(good, loader_dir) == []
    bad = [
        (zero_shot_row("openai/clip-vit-base-patch32", revision, "CLIPModel", 1, size=336), "vision config's 224"),
        (zero_shot_row("openai/clip-vit-base-patch32", revision, "CLIPModel", 1, max_length=78), "77 positions"),
        (
            zero_shot_row(
                "openai/clip-vit-base-patch32", revision, "CLIPModel", 1, special_ids={"bos": 0, "eos": 1, "pad": 49408}
            ),
            "inside the vocabulary",
        ),
        (
            zero_shot_row("openai/clip-vit-base-patch32", revision, "CLIPModel", 1, special_ids={"pad": 0}),
            "inputs.special_ids must name exactly ['bos', 'eos', 'pad']",
        ),
    ]
    for row, problem in bad:
        problems = row_problems(row, loader_dir)
        assert any(problem in p for p in problems), problems


# ---- inputs ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("image", ["chelsea.jpg", "astronaut.jpg", "coffee.jpg"])
def test_fallback_preprocessing_is_clip_image_processor(image):
    """The documented constants, step for step: bit-identical to CLIPImageProcessor's output."""
    expected = _clip_image_processor()(images=sample_image(image), return_tensors="pt")["pixel_values"][0]
    fallback = processor_transform(224, mean=CLIP_MEAN, std=CLIP_STD)(sample_image(image))
    assert torch.equal(fallback, expected)
    # and what the loader returns (its own processor when cached, else this fallback)
    pixels = _quiet_inputs(ModelLoader(), image=image)["pixel_values"]
    assert pixels.shape == (1, 3, 224, 224) and torch.equal(pixels[0], expected)


def test_fallbacks_warn_once_per_loader(monkeypatch):
    loader = ModelLoader()

    def unavailable():
        raise WeightsUnavailableError("image processor of the test: not cached")

    monkeypatch.setattr(loader.source, "load_image_processor", unavailable)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = loader.load_inputs()
        second = loader.load_inputs(batch_size=2)
    messages = [str(w.message) for w in caught if issubclass(w.category, PreprocessorFallbackWarning)]
    assert sum("documented constants" in m for m in messages) == 1, messages
    assert sum("tokenizer" in m for m in messages) <= 1, messages
    assert torch.equal(first["pixel_values"][0], second["pixel_values"][1])


def test_synthetic_prompts_have_clip_tokenizer_layout(monkeypatch):
    """Without a tokenizer: BOS, word ids below the special ids, EOS, then padding, cut to the
    longest prompt. CLIP pools the text at EOS (the largest id, or its first occurrence), so each
    row must pool there."""
    monkeypatch.setattr("tt_forge_models.inputs.text.load_tokenizer", lambda *args, **kwargs: None)
    loader = ModelLoader()
    inputs = _quiet_inputs(loader, batch_size=3)
    assert loader.tokenizer is None
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    assert ids.dtype == mask.dtype == torch.int64
    assert ids.shape == mask.shape and ids.shape[0] == len(SAMPLE_LABELS)
    lengths = mask.sum(dim=1)
    assert int(lengths.max()) == ids.shape[1], "padded to the longest prompt, no further"
    for row, n in zip(ids, lengths.tolist()):
        assert row[0] == BOS and row[n - 1] == EOS
        assert (row[1 : n - 1] < min(BOS, EOS)).all(), "no word id reaches the special ids"
        assert (row[n:] == PAD).all()
        assert int(row.argmax()) == n - 1 == int((row == EOS).nonzero()[0]), "CLIP pools at this EOS"
    assert inputs["pixel_values"].shape[0] == 3 and loader.labels == SAMPLE_LABELS
    assert ModelLoader.SHARED_INPUTS == ("input_ids", "attention_mask")


def test_bad_labels_are_refused():
    loader = ModelLoader()
    with pytest.raises(TypeError, match="labels"):
        loader.load_inputs(labels="a photo of a cat")
    with pytest.raises(TypeError, match="labels"):
        loader.load_inputs(labels=["a cat", 3])
    with pytest.raises(ValueError, match="non-empty"):
        loader.load_inputs(labels=[])
    with pytest.raises(ValueError, match="non-empty"):
        loader.load_inputs(labels=["a cat", "  "])


# ---- forward and decode (a tiny CLIP) ------------------------------------------------------------------


def test_images_batch_and_prompts_are_shared_in_the_forward_pass():
    loader = ModelLoader()
    model = loader.load_model(weights="random", **TINY)
    inputs = _quiet_inputs(loader, batch_size=3)
    with torch.no_grad():
        out = loader.call_model(model, inputs)
        plain = model(**inputs, return_dict=False)
    logits = loader.unpack_forward_output(out)
    assert logits.shape == (3, len(SAMPLE_LABELS)) and torch.equal(logits, out.logits_per_image)
    assert torch.equal(loader.unpack_forward_output(plain), logits), "upstream's return_dict=False tuple"
    assert torch.equal(logits[0], logits[2]), "the same image against the same prompts"
    assert loader.decode_output(plain) == loader.decode_output(out) == loader.post_process(out)


def test_decode_is_every_label_sorted_with_probabilities_summing_to_one():
    loader = ModelLoader()
    _quiet_inputs(loader, batch_size=2)
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0, 0.5, 0.25, 4.0], [5.0, 0, 0, 0, 0, 0, 0, 0]])
    decoded = loader.decode_output(logits)
    assert len(decoded) == 2
    for image, row in zip(decoded, logits):
        assert {entry["label"] for entry in image} == set(SAMPLE_LABELS)
        probabilities = [entry["probability"] for entry in image]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-6)
        assert image[0]["label"] == SAMPLE_LABELS[int(row.argmax())]
    assert decoded[0][0]["label"] == SAMPLE_LABELS[7] and decoded[1][0]["label"] == SAMPLE_LABELS[0]
    top2 = loader.decode_output(logits, top_k=2)
    assert [e["label"] for e in top2[0]] == [SAMPLE_LABELS[7], SAMPLE_LABELS[1]]
    with pytest.raises(ValueError, match="8 labels"):
        loader.decode_output(torch.zeros(1, 1000))
    with pytest.raises(TypeError):
        loader.decode_output(None)


def test_custom_labels_are_encoded_and_decoded():
    loader = ModelLoader()
    labels = ("a tabby cat", "a rocket")
    model = loader.load_model(weights="random", **TINY)
    inputs = _quiet_inputs(loader, labels=labels)
    assert inputs["input_ids"].shape[0] == 2 and loader.labels == labels
    with torch.no_grad():
        decoded = loader.decode_output(loader.call_model(model, inputs))
    assert {e["label"] for e in decoded[0]} == set(labels)
    names = [e["label"] for e in loader.decode_output(torch.tensor([[0.0, 1.0]]), labels=["x", "y"])[0]]
    assert names == ["y", "x"]


def test_random_build_keeps_the_constructors_logit_scale():
    """transformers' CLIP init leaves logit_scale to the constructor; built on meta that value would
    be lost (uninitialised memory), so the build takes it from the constructor."""
    loader = ModelLoader()
    with torch.random.fork_rng(devices=[]):
        reference = loader.source.construct(**TINY)  # the plain framework build
    for dtype in (torch.float32, torch.bfloat16):
        first = loader.load_model(weights="random", dtype_override=dtype, **TINY)
        second = loader.load_model(weights="random", dtype_override=dtype, **TINY)
        assert first.logit_scale.dtype == dtype
        assert torch.equal(first.logit_scale, reference.logit_scale.detach().to(dtype))
        assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    assert float(reference.logit_scale.detach()) == pytest.approx(2.6592)


# ---- real weights, processor and tokenizer from a Hugging Face cache ----------------------------------


def _fake_clip_tokenizer():
    """A CLIP tokenizer with CLIP's layout: 49,408 tokens (bytes, bytes + ``</w>``, fillers, the two
    specials last) and no merges, so every word is spelt out in byte tokens."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    chars = sorted(ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": 256 + i for i, c in enumerate(chars)})
    vocab.update({f"filler{i}": i for i in range(512, BOS)})
    vocab.update({"<|startoftext|>": BOS, "<|endoftext|>": EOS})
    return CLIPTokenizer(vocab=vocab, merges=[])


def test_pretrained_from_a_private_hf_cache(tmp_path):
    """``weights="pretrained"`` with the hub off loads exactly the cached weights at the pinned
    revision, with the cache's own image processor and tokenizer (no fallback warnings)."""
    import transformers

    row = ModelLoader.get_variant_config(ModelVariant.VIT_B_32)
    org, name = row.pretrained_model_name.split("/")
    repo = tmp_path / "hub" / f"models--{org}--{name}"
    snapshot = repo / "snapshots" / row.weights.revision
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        saved = transformers.CLIPModel(ModelLoader().load_config(**TINY)).eval()
    saved.save_pretrained(snapshot)
    (snapshot / "preprocessor_config.json").write_text(json.dumps(PREPROCESSOR_CONFIG))
    tokenizer = _fake_clip_tokenizer()
    tokenizer.save_pretrained(snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(row.weights.revision)
    (tmp_path / "tiny.json").write_text(json.dumps(TINY))

    code = f"""
        import json, warnings
        import torch
        from safetensors.torch import load_file
        from tt_forge_models.clip import ModelLoader
        tiny = json.loads(open({str(tmp_path / "tiny.json")!r}).read())
        loader = ModelLoader("vit_b_32")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = loader.load_model(weights="pretrained", **tiny)
            inputs = loader.load_inputs(batch_size=2)
        saved = load_file({str(snapshot / "model.safetensors")!r})
        state = model.state_dict()
        with torch.no_grad():
            logits = loader.unpack_forward_output(model(**inputs))
        print(json.dumps({{
            "source": loader.weights_source,
            "equal": sorted(saved) == sorted(k for k in state if k in saved)
                     and all(torch.equal(state[k], v) for k, v in saved.items()),
            "tokenizer": loader.tokenizer.name_or_path,
            "warnings": [str(w.message)[:200] for w in caught if "Fallback" in w.category.__name__],
            "ids": inputs["input_ids"].tolist(),
            "mask": inputs["attention_mask"].tolist(),
            "pixels": inputs["pixel_values"][1].flatten()[::997].tolist(),
            "logits": logits.tolist(),
        }}))
        """
    env = {"HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    report = json.loads(run_python(code, env={**env, "TT_FORGE_MODELS_OFFLINE": "1"}).stdout.strip().splitlines()[-1])
    assert report["source"] == "pretrained" and report["equal"]
    assert report["tokenizer"] == row.pretrained_model_name and report["warnings"] == []

    # The cache's tokenizer, padded to the longest prompt (as CLIPProcessor with padding=True).
    expected = tokenizer(list(SAMPLE_LABELS), padding=True, truncation=True, max_length=77)
    assert report["ids"] == expected["input_ids"] and report["mask"] == expected["attention_mask"]
    # The cache's processor gives what the fallback gives.
    pixels = processor_transform(224, mean=CLIP_MEAN, std=CLIP_STD)(sample_image("chelsea.jpg"))
    assert report["pixels"] == pixels.flatten()[::997].tolist()
    # The cached weights' own outputs.
    inputs = {"pixel_values": pixels.unsqueeze(0).repeat(2, 1, 1, 1)}
    inputs.update({k: torch.tensor(v) for k, v in expected.items()})
    with torch.no_grad():
        reference = saved(**inputs).logits_per_image
    torch.testing.assert_close(torch.tensor(report["logits"]), reference, atol=1e-5, rtol=1e-5)
