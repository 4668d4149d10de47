"""Stable Diffusion 1.5's components: the table, the published architectures at full size (on the
meta device), the sample inputs, decoding, the VAE decoder's equivalence with the pipeline's
``vae.decode``, and the real-weights paths (a hub cache and local folders this file fills itself,
with the hub off), and bad input refused with typed errors."""

from __future__ import annotations

import dataclasses
import json
import warnings

import pytest
import torch

from tt_forge_models.config import DiffusersWeights, ModelSource, ModelTask
from tt_forge_models.errors import CorruptWeightsError, RemoteCodeError, WeightsFallbackWarning, WeightsUnavailableError
from tt_forge_models.stable_diffusion.pytorch import ModelLoader, ModelVariant
from tt_forge_models.stable_diffusion.pytorch import loader as sd_loader
from tt_forge_models.tasks.diffusion import SAMPLE_TIMESTEP
from tt_forge_models.testing import reduced_kwargs
from tt_forge_models.weights import save_safetensors

from helpers import run_python

UNET, VAE = ModelVariant.UNET, ModelVariant.VAE_DECODER
REVISION = "451f4fe16113bff5a5d2269ed5ad43b0592e9a14"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")


def _overrides(variant):
    return dict(ModelLoader.get_variant_config(variant).test.overrides)


def _count(model):
    return sum(p.numel() for p in model.parameters())


# ---- the table and the published architectures ------------------------------------------------------


def test_table_rows():
    unet, vae = (ModelLoader.get_variant_config(v) for v in (UNET, VAE))
    assert ModelLoader.DEFAULT_VARIANT == UNET
    for row, subfolder, cls in [(unet, "unet", "UNet2DConditionModel"), (vae, "vae", "AutoencoderKL")]:
        assert isinstance(row.weights, DiffusersWeights) and row.source == ModelSource.HUGGING_FACE
        assert row.weights.repo_id == "stable-diffusion-v1-5/stable-diffusion-v1-5"
        assert row.weights.revision == REVISION and row.weights.subfolder == subfolder
        assert row.weights.model_class == cls and row.inputs.latent_size == (4, 64, 64)
        assert row.weights.config_file == f"configs/stable-diffusion-v1-5-stable-diffusion-v1-5-{subfolder}.json"
    assert (unet.task, unet.num_params, unet.inputs.max_length) == (ModelTask.CONDITIONAL_GENERATION, 859_520_964, 77)
    assert (vae.task, vae.num_params, vae.inputs.max_length) == (ModelTask.CV_IMG_TO_IMG, 49_490_199, None)
    info = ModelLoader.get_model_info(VAE)
    assert info.name == "pytorch_stable_diffusion_vae_decoder_cv_img_to_img_huggingface"
    assert info.model_name_clean == "stable-diffusion-v1-5"


def test_shipped_configs_are_sd15s():
    unet = ModelLoader(UNET).load_config()
    assert unet.block_out_channels == [320, 640, 1280, 1280] and unet.layers_per_block == 2
    assert (unet.cross_attention_dim, unet.attention_head_dim, unet.in_channels, unet.sample_size) == (768, 8, 4, 64)
    assert unet.down_block_types == ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    assert unet.up_block_types == ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3
    vae = ModelLoader(VAE).load_config()
    assert vae.block_out_channels == [128, 256, 512, 512] and vae.latent_channels == 4
    assert vae.scaling_factor == 0.18215  # the class's default: SD 1.5's vae/config.json has none
    assert unet.to_dict() == ModelLoader(UNET).load_config().to_dict() and unet is not ModelLoader(UNET).load_config()


@pytest.mark.parametrize("variant", list(ModelVariant))
def test_meta_builds_match_both_recorded_counts(variant):
    loader = ModelLoader(variant)
    row = loader.get_variant_config()
    assert _count(loader.load_model(device="meta")) == row.num_params
    reduced = loader.load_model(device="meta", **reduced_kwargs(loader_entry(variant)))
    assert _count(reduced) == row.test.num_params


def loader_entry(variant):
    from tt_forge_models.discovery import list_variants

    return next(e for e in list_variants(model="stable_diffusion") if e.variant == variant)


def test_vae_decoder_is_the_decoding_half_only():
    model = ModelLoader(VAE).load_model(device="meta")
    names = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert names == {"post_quant_conv", "decoder"}
    assert _count(model.post_quant_conv) == 20 and model.scaling_factor == 0.18215


def test_full_size_shapes_on_meta():
    """The published sizes end to end, without computing anything: 64x64 latents and 77 tokens in,
    a 64x64 noise prediction and a 512x512 image out."""
    unet_loader, vae_loader = ModelLoader(UNET), ModelLoader(VAE)
    inputs = unet_loader.load_inputs()
    assert inputs["sample"].shape == (1, 4, 64, 64) and inputs["encoder_hidden_states"].shape == (1, 77, 768)
    assert inputs["timestep"].tolist() == [SAMPLE_TIMESTEP] and inputs["timestep"].dtype == torch.long
    unet = unet_loader.load_model(device="meta")
    noise = unet(**{k: v.to("meta") for k, v in inputs.items()}).sample
    assert noise.shape == (1, 4, 64, 64)
    latents = vae_loader.load_inputs(batch_size=2)
    assert latents.shape == (2, 4, 64, 64)
    assert vae_loader.load_model(device="meta")(latents.to("meta")).shape == (2, 3, 512, 512)


# ---- inputs --------------------------------------------------------------------------------------


def test_inputs_are_deterministic_private_and_batched():
    state = torch.get_rng_state()
    one, two = (
        ModelLoader(UNET).load_inputs(),
        ModelLoader(UNET).load_inputs(batch_size=3, dtype_override=torch.bfloat16),
    )
    assert torch.equal(state, torch.get_rng_state()), "inputs drew from the global RNG"
    assert torch.equal(one["sample"][0].bfloat16(), two["sample"][0]), "row 0 is the same noise at any batch size"
    assert not torch.equal(two["sample"][0], two["sample"][1]), "each image its own noise"
    embeds = two["encoder_hidden_states"]
    assert embeds.dtype == torch.bfloat16 and torch.equal(embeds[0], embeds[2]), "one prompt for the batch"
    assert two["timestep"].dtype == torch.long and two["timestep"].tolist() == [SAMPLE_TIMESTEP] * 3
    assert 0.9 < float(one["sample"].std()) < 1.1 and abs(float(one["sample"].mean())) < 0.05
    small = ModelLoader(VAE).load_inputs(input_size=(4, 16, 16))
    assert small.shape == (1, 4, 16, 16) and torch.equal(small, ModelLoader(VAE).load_inputs(input_size=[4, 16, 16]))


@pytest.mark.parametrize(
    "variant, size",
    [
        (UNET, (3, 64, 64)),  # the model's latent channels are 4
        (UNET, (4, 60, 64)),  # the UNet halves three times
        (VAE, (4, 0, 8)),
        (VAE, (4, 8)),
        (VAE, "4x8x8"),
        (VAE, (4, 8.0, 8)),
        (VAE, (4, True, 8)),
    ],
)
def test_bad_input_size_is_a_value_error_naming_it(variant, size):
    with pytest.raises(ValueError, match="input_size"):
        ModelLoader(variant).load_inputs(input_size=size)


def test_huge_inputs_are_refused_before_allocating():
    from tt_forge_models.errors import ModelTooLargeError

    with pytest.raises(ModelTooLargeError, match="latents"):
        ModelLoader(VAE).load_inputs(input_size=(4, 8 * 10**6, 8 * 10**6))


def test_load_inputs_and_listing_import_neither_torch_nor_diffusers():
    out = run_python(
        """
        import sys
        from tt_forge_models import list_variants
        from tt_forge_models.stable_diffusion.pytorch import ModelLoader
        ids = [e.id for e in list_variants(model="stable_diffusion", framework="pytorch")]
        ModelLoader("vae_decoder").get_model_info()
        print(ids, "torch" in sys.modules, "diffusers" in sys.modules)
        ModelLoader("unet").load_inputs(batch_size=2)
        print("torch" in sys.modules, "diffusers" in sys.modules)
        """
    ).stdout.split("\n")
    assert out[0] == "['stable_diffusion/pytorch-unet', 'stable_diffusion/pytorch-vae_decoder'] False False"
    assert out[1] == "True False", "inputs need torch, never diffusers"


# ---- forward and decoding ---------------------------------------------------------------------------


def test_unet_decodes_to_the_noise_predictions_statistics():
    loader = ModelLoader(UNET)
    model = loader.load_model(weights="random", **_overrides(UNET))
    with torch.no_grad():
        out = loader.call_model(model, loader.load_inputs(batch_size=2, input_size=(4, 16, 16)))
    noise = out.sample
    decoded = loader.decode_output(out)
    assert decoded["shape"] == (2, 4, 16, 16) == tuple(noise.shape)
    assert decoded["mean"] == pytest.approx(float(noise.mean()))
    assert decoded["std"] == pytest.approx(float(noise.std()))
    assert (decoded["min"], decoded["max"]) == (float(noise.min()), float(noise.max()))
    assert loader.decode_output(outputs=noise) == decoded  # a compiled model's bare tensor decodes the same


def test_vae_decoder_decodes_to_pil_images_of_its_size():
    loader = ModelLoader(VAE)
    images = torch.zeros(2, 3, 512, 512)
    images[:, :, 0, 0], images[:, :, 0, 1] = -1.0, 1.0  # black, white; the rest mid grey
    decoded = loader.decode_output(images)
    assert len(decoded) == 2 and all(d["size"] == (512, 512) and d["image"].mode == "RGB" for d in decoded)
    picture = decoded[0]["image"]
    assert picture.getpixel((0, 0)) == (0, 0, 0) and picture.getpixel((1, 0)) == (255, 255, 255)
    assert picture.getpixel((5, 5)) == (128, 128, 128)
    model = loader.load_model(weights="random", **_overrides(VAE))
    with torch.no_grad():
        out = model(loader.load_inputs(input_size=(4, 16, 16)))
    assert out.shape == (1, 3, 32, 32) and loader.decode_output(out)[0]["size"] == (32, 32)


def test_vae_decoder_is_the_pipelines_decode():
    """``model(latents)`` is ``vae.decode(latents / vae.config.scaling_factor).sample`` of the
    AutoencoderKL it came from, as StableDiffusionPipeline decodes."""
    import diffusers

    from tt_forge_models.tasks.latent_decoder import LatentDecoder

    loader, vae = ModelLoader(VAE), _small(VAE, 0)
    assert isinstance(vae, diffusers.AutoencoderKL)

    latents = loader.load_inputs(input_size=(4, 16, 16))
    with torch.no_grad():
        expected = vae.decode(latents / vae.config.scaling_factor).sample
        torch.testing.assert_close(LatentDecoder(vae)(latents), expected, rtol=0, atol=0)


def test_random_weights_are_pytorch_module_defaults():
    """The one init pass is what ``from_config`` gives (PyTorch's per-module init), drawn from the
    seed: conv weights within their kaiming-uniform bound, norms at one and zero."""
    model = ModelLoader(UNET).load_model(weights="random", seed=5, **_overrides(UNET))
    conv = model.conv_in.requires_grad_(False)
    bound = 1 / (conv.weight[0].numel() ** 0.5)  # kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), ...)
    assert float(conv.weight.abs().max()) <= bound and float(conv.weight.std()) > bound / 3
    norm = model.conv_norm_out
    assert torch.equal(norm.weight, torch.ones_like(norm.weight)) and torch.equal(
        norm.bias, torch.zeros_like(norm.bias)
    )


@pytest.mark.parametrize(
    "outputs, error",
    [
        (None, TypeError),
        ("image", TypeError),
        (torch.zeros(1, 1000), ValueError),
        (torch.zeros(1, 4, 8, 8), ValueError),
    ],
)
def test_vae_decode_refuses_what_is_no_image_batch(outputs, error):
    with pytest.raises(error, match="decode_output"):
        ModelLoader(VAE).decode_output(outputs)


def test_decode_takes_no_options_and_unet_decode_needs_a_latent_batch():
    with pytest.raises(TypeError, match="top_k"):
        ModelLoader(UNET).decode_output(torch.zeros(1, 4, 8, 8), top_k=5)
    with pytest.raises(ValueError, match="noise predictions"):
        ModelLoader(UNET).decode_output(torch.zeros(1, 1000))


# ---- load options -------------------------------------------------------------------------------------


def test_config_keywords_are_checked():
    loader = ModelLoader(UNET)
    with pytest.raises(TypeError, match="layers_per_block"):
        loader.load_model(device="meta", num_layers=1)
    with pytest.raises(TypeError, match="block_out_channel"):
        loader.load_model(device="meta", block_out_channel=(32, 64))
    with pytest.raises(ValueError, match="cannot build UNet2DConditionModel"):
        loader.load_model(device="meta", block_out_channels=3)
    with pytest.raises(TypeError, match="bool"):
        loader.load_model(device="meta", seed=True)


def test_reduced_build_in_bf16_has_every_tensor_in_bf16():
    model = ModelLoader(VAE).load_model(weights="random", dtype_override=torch.bfloat16, **_overrides(VAE))
    assert {t.dtype for t in model.state_dict().values()} == {torch.bfloat16}
    meta = ModelLoader(UNET).load_model(device="meta", dtype_override=torch.bfloat16)
    assert {p.dtype for p in meta.parameters()} == {torch.bfloat16}


# ---- real weights: a hub cache and local folders ------------------------------------------------------


def _small(variant, seed):
    """A seeded diffusers model of the variant's reduced architecture (for the VAE: the whole
    AutoencoderKL, encoder included, as the hub holds it)."""
    import diffusers

    loader = ModelLoader(variant)
    cls = getattr(diffusers, loader.get_variant_config().weights.model_class)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return cls.from_config(loader.load_config(**_overrides(variant))).eval()


def _hub_cache(tmp_path, monkeypatch):
    """An empty Hugging Face cache in ``tmp_path`` that huggingface_hub reads; the snapshot folder
    of the pinned revision."""
    import huggingface_hub.constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    repo = cache / "models--stable-diffusion-v1-5--stable-diffusion-v1-5"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(REVISION)
    return repo / "snapshots" / REVISION


def _same(ours, theirs, prefix=""):
    state = ours.state_dict()
    keys = [k for k in theirs.state_dict() if k.startswith(prefix)]
    assert sorted(state) == sorted(k[len(prefix) :] if prefix else k for k in keys)
    return all(torch.equal(state[k.removeprefix(prefix) if prefix else k], theirs.state_dict()[k]) for k in keys)


def test_pretrained_from_a_hub_cache_with_the_hub_off(tmp_path, monkeypatch):
    """Both components load exactly what the pinned snapshot's unet/ and vae/ hold (save_pretrained
    of seeded reduced models), in the asked dtype, the VAE's encoder left out."""
    snapshot = _hub_cache(tmp_path, monkeypatch)
    unet, vae = _small(UNET, 1), _small(VAE, 2)
    unet.save_pretrained(snapshot / "unet")
    vae.save_pretrained(snapshot / "vae")
    for variant, saved in [(UNET, unet), (VAE, vae)]:
        loader = ModelLoader(variant)
        assert loader.source.is_cached()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no fallback to random weights
            model = loader.load_model(weights="pretrained", **_overrides(variant))
        assert loader.weights_source == "pretrained" and not model.training
        if variant == UNET:
            assert _same(model, saved)
        else:
            assert _same(model.decoder, saved, "decoder.") and _same(model.post_quant_conv, saved, "post_quant_conv.")
            assert not hasattr(model, "encoder")
        bf16 = loader.load_model(weights="pretrained", dtype_override=torch.bfloat16, **_overrides(variant))
        assert {t.dtype for t in bf16.state_dict().values()} == {torch.bfloat16}
    # The cache is checked against the variant: these are not SD 1.5's published sizes.
    with pytest.raises(
        CorruptWeightsError, match=r"block_out_channels \[32, 64\] \(variant: \[320, 640, 1280, 1280\]\)"
    ):
        ModelLoader(UNET).load_model(weights="pretrained")


def test_from_pretrained_reads_the_pinned_subfolder(tmp_path, monkeypatch):
    """diffusers' own loading (what fetches the weights when they are not cached yet) at the
    pinned revision and subfolder, into the asked dtype."""
    snapshot = _hub_cache(tmp_path, monkeypatch)
    saved = _small(VAE, 3)
    saved.save_pretrained(snapshot / "vae")
    loader = ModelLoader(VAE)
    model = loader.source._from_pretrained(dtype=torch.bfloat16, offline=True)
    assert torch.get_default_dtype() == torch.float32, "diffusers' default dtype is restored after its call"
    assert {t.dtype for t in model.state_dict().values()} == {torch.bfloat16}
    assert _same(model.decoder, saved.to(torch.bfloat16), "decoder.")


def test_missing_weights_offline_fail_fast_or_fall_back(tmp_path, monkeypatch):
    import time

    _hub_cache(tmp_path, monkeypatch)
    loader = ModelLoader(UNET)
    assert not loader.source.is_cached()
    start = time.monotonic()
    with pytest.raises(WeightsUnavailableError, match="hf download stable-diffusion-v1-5/stable-diffusion-v1-5"):
        loader.load_model(weights="pretrained", device="cpu", **_overrides(UNET))
    with pytest.raises(WeightsUnavailableError, match="unet/"):
        ModelLoader(UNET).source.load_pretrained(dtype=None, offline=True)
    assert time.monotonic() - start < 30
    with pytest.warns(WeightsFallbackWarning, match="random weights instead"):
        ModelLoader(VAE).load_model(**_overrides(VAE))  # weights="auto"


def test_local_folders_and_state_dict_files(tmp_path):
    """A save_pretrained folder of the component, a pipeline folder holding it in vae/, and
    state-dict files of the whole AutoencoderKL (its SD 1.x attention names included) or of the
    decoder alone all load the same tensors."""
    saved = _small(VAE, 4)
    saved.save_pretrained(tmp_path / "pipeline" / "vae")
    loader, options = ModelLoader(VAE), _overrides(VAE)
    reference = loader.load_model(weights=tmp_path / "pipeline" / "vae", **options)
    assert loader.weights_source == f"local:{tmp_path / 'pipeline' / 'vae'}"
    assert _same(reference.decoder, saved, "decoder.")
    state = {k: v.contiguous() for k, v in saved.state_dict().items()}
    legacy = dict(state)
    for new, old in [("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")]:
        for kind in ("weight", "bias"):
            for part in ("encoder", "decoder"):
                legacy[f"{part}.mid_block.attentions.0.{old}.{kind}"] = legacy.pop(
                    f"{part}.mid_block.attentions.0.{new}.{kind}"
                )
    from safetensors.torch import save_file

    save_file(legacy, tmp_path / "legacy.safetensors")
    save_safetensors(reference, tmp_path / "decoder.safetensors")
    torch.save(state, tmp_path / "vae.pt")
    for weights in (
        tmp_path / "pipeline",
        tmp_path / "legacy.safetensors",
        tmp_path / "decoder.safetensors",
        tmp_path / "vae.pt",
    ):
        model = loader.load_model(weights=weights, **options)
        assert _same(model, reference), weights


@pytest.mark.parametrize("variant", list(ModelVariant))
def test_export_folders_load_back(variant, tmp_path):
    """``tt-forge-models export``'s folders: the UNet's is a diffusers save_pretrained folder with
    the export record inside its config.json; the decoder's a safetensors file beside the record."""
    from tt_forge_models.weights import write_export_folder

    loader, options = ModelLoader(variant), _overrides(variant)
    model = loader.load_model(weights="random", seed=7, **options)
    record = {"model": "stable_diffusion", "variant": str(variant)}
    folder = write_export_folder(model, tmp_path / "export", record)
    back = loader.load_model(weights=folder, **options)
    assert _same(back, model)
    other = ModelLoader(UNET if variant == VAE else VAE)
    with pytest.raises(
        CorruptWeightsError, match="holds (an export of stable_diffusion variant|a UNet2DConditionModel model)"
    ):
        other.load_model(weights=folder, **_overrides(other.variant))


def test_bad_folders_are_refused_naming_the_problem(tmp_path):
    loader, options = ModelLoader(VAE), _overrides(VAE)
    folder = tmp_path / "vae"
    _small(VAE, 5).save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())

    def write(**changes):
        (folder / "config.json").write_text(json.dumps({**config, **changes}))

    write(_class_name="UNet2DConditionModel")
    with pytest.raises(CorruptWeightsError, match="holds a UNet2DConditionModel model, not AutoencoderKL"):
        loader.load_model(weights=folder, **options)
    write(auto_map={"AutoModel": "x.Y"})
    with pytest.raises(RemoteCodeError, match="auto_map"):
        loader.load_model(weights=folder, **options)
    write(latent_channels=8)
    with pytest.raises(CorruptWeightsError, match=r"latent_channels 8 \(variant: 4\)"):
        loader.load_model(weights=folder, **options)
    write()
    (folder / "diffusion_pytorch_model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(CorruptWeightsError, match="diffusion_pytorch_model.safetensors"):
        loader.load_model(weights=folder, **options)
    (folder / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(CorruptWeightsError, match="no complete weights"):
        loader.load_model(weights=folder, **options)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="config.json"):
        loader.load_model(weights=tmp_path / "empty", **options)
    with pytest.raises(FileNotFoundError):
        loader.load_model(weights=tmp_path / "missing.safetensors", **options)
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CorruptWeightsError, match="does not match LatentDecoder"):
        loader.load_model(weights=tmp_path / "other.pt", **options)


def test_schema_refuses_bad_diffusion_rows():
    from tt_forge_models.testing.schema import row_problems

    folder = ModelLoader._loader_dir()
    row = ModelLoader.get_variant_config(UNET)
    cases = [
        (dataclasses.replace(row, inputs=dataclasses.replace(row.inputs, max_length=None)), "inputs.max_length"),
        (dataclasses.replace(row, inputs=dataclasses.replace(row.inputs, latent_size=(8, 64, 64))), "in_channels"),
        (dataclasses.replace(row, test=dataclasses.replace(row.test, overrides={"foo": 1})), "test.overrides"),
        (dataclasses.replace(row, test=dataclasses.replace(row.test, input_size=(4, 64, 64))), "test.input_size"),
        (dataclasses.replace(row, task=ModelTask.CV_IMAGE_CLS), "no task base"),
        (dataclasses.replace(row, weights=dataclasses.replace(row.weights, model_class="AutoencoderKL")), "config"),
    ]
    for bad, problem in cases:
        assert any(problem in p for p in row_problems(bad, folder)), (problem, row_problems(bad, folder))
    with pytest.raises(ValueError, match="DiffusersWeights.subfolder"):
        DiffusersWeights("org/m", REVISION, "../vae", "c.json", "AutoencoderKL")
    with pytest.raises(ValueError, match="DiffusersWeights.revision"):
        DiffusersWeights("org/m", "main", "vae", "c.json", "AutoencoderKL")
    assert sd_loader.REVISION == REVISION
