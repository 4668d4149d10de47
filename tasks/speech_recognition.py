"""Speech recognition: the task base of sequence-to-sequence recognisers fed log-mel features
(Whisper), on the encoder-decoder base (:mod:`.encoder_decoder`: first step, decode step with a
KV cache, greedy generation). What is its own here: the recording and its features, the forced
prompt and suppressed tokens of the shipped generation settings, and the tokenizer. A family's
loader is its variant table (rows made by :func:`asr_row`).

- Inputs: the sample recording ``assets/speech.wav`` (read with the standard library's ``wave``)
  through the model's own feature extractor (transformers' ``WhisperFeatureExtractor``: from the
  hub cache at the pinned revision, else built from the ``preprocessor_config.json`` shipped as
  ``configs/<org>-<name>.preprocessor.json``; it is plain numpy, so it is always available) as
  ``input_features`` ``(batch, mel bins, 3000)``, and ``decoder_input_ids``: the model's
  start-of-transcript prefix (``decoder_start_token_id`` then the ``forced_decoder_ids`` of the
  generation settings shipped as ``configs/<org>-<name>.generation.json``: English, transcribe, no
  timestamps). These two keys are upstream's call (``model(**inputs)``); the shipped configs say
  ``use_cache: false``, as upstream's loader loads Whisper, so a plain forward returns logits and
  the encoder's output only (``torch.export`` and golden comparisons flatten them), and decode
  steps and generation ask for the cache themselves.
- ``mode="decode"``: one decoder step with a KV cache and the encoder's output, without weights;
  :meth:`load_decode_inputs` builds the same step from a model's real first step.
- ``decode_output``: the transcript. Given ``model=`` and ``inputs=``, greedy generation with the
  KV cache, applying the generation settings' ``suppress_tokens`` and, at the first token,
  ``begin_suppress_tokens`` (what Whisper and CTranslate2 decode with), cut at end-of-text;
  without a model, the one next token of the outputs. Text comes from the model's
  ``tokenizer.json`` (hub cache, else an installed mirror holding it, checked by sha256), or token
  ids when neither is here.

Only the standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, ClassVar

from ..config import HubWeights, InputSpec, ModelConfig, ModelGroup, ModelTask, TestSpec
from ..inputs.audio import SAMPLE_AUDIO
from .encoder_decoder import EncoderDecoderLoader

#: the Whisper family's transformers class and the depths ``num_layers=`` cuts
WHISPER_CLASS = "WhisperForConditionalGeneration"
WHISPER_LAYERS = ("encoder_layers", "decoder_layers")
#: the sample is about 30 tokens; Whisper's decoder holds 448 positions
MAX_NEW_TOKENS = 96


def asr_row(
    repo_id: str,
    revision: str,
    num_params: int,
    *,
    test_num_layers: int | None = None,
    test_num_params: int | None = None,
    group: ModelGroup = ModelGroup.GENERALITY,
    model_class: str = WHISPER_CLASS,
    layers_key: str | tuple[str, ...] = WHISPER_LAYERS,
    max_new_tokens: int = MAX_NEW_TOKENS,
    bf16_pcc: float = 0.99,
    quirks: tuple[str, ...] = (),
    **mirror: Any,
) -> ModelConfig:
    """One speech-recognition row: hub weights with the config, feature extractor and generation
    settings shipped in ``configs/``, the reduced test build (``test_num_layers`` deep encoder and
    decoder, ``test_num_params`` parameters) and, in ``mirror``, the ``HubWeights`` mirror fields
    (``mirror_packages``, ``mirror_sha256``, ``mirror_format``)."""
    return ModelConfig(
        HubWeights.shipped(repo_id, revision, model_class, layers_key=layers_key, **mirror),
        ModelTask.AUDIO_ASR,
        num_params,
        group,
        InputSpec(max_new_tokens=max_new_tokens),
        TestSpec(num_layers=test_num_layers, num_params=test_num_params, bf16_pcc=bf16_pcc, quirks=quirks),
    )


class SpeechRecognitionLoader(EncoderDecoderLoader):
    """What speech recognition adds to the encoder-decoder base: log-mel features of a recording,
    Whisper's forced prompt and suppressed tokens, and its tokenizer."""

    #: ``decode_output`` gives the transcript by generating with the model (``run`` passes it)
    DECODE_GENERATES: ClassVar[bool] = True
    ENCODER_OPTIONS: ClassVar[tuple[str, ...]] = ("audio",)

    def _shipped_file(self, kind: str) -> Path:
        """``configs/<org>-<name>.<kind>.json`` beside the architecture config."""
        config_file = self.source.config_file
        return config_file.with_name(f"{config_file.stem}.{kind}.json")

    @functools.cached_property
    def generation_settings(self) -> dict[str, Any]:
        """The shipped generation settings (``configs/<org>-<name>.generation.json``): start and
        end tokens, the forced prefix, the suppressed tokens."""
        return json.loads(self._shipped_file("generation").read_text(encoding="utf-8"))

    def decoder_prefix(self) -> list[int]:
        """The start-of-transcript prefix: ``decoder_start_token_id`` then the forced ids at
        positions 1, 2, ... (``<|notimestamps|>`` for an English-only model; ``<|en|>``,
        ``<|transcribe|>`` and ``<|notimestamps|>`` for a multilingual one)."""
        settings = self.generation_settings
        forced = sorted(settings.get("forced_decoder_ids") or [])
        if [position for position, _ in forced] != list(range(1, len(forced) + 1)):
            raise ValueError(f"forced_decoder_ids {forced} of {self._shipped_file('generation')} leave gaps")
        return [settings["decoder_start_token_id"], *(token for _, token in forced)]

    # ---- the encoder-decoder base's hooks --------------------------------------------------------

    def _decoder_start_ids(self) -> list[int]:
        return self.decoder_prefix()

    def _eos_ids(self) -> list[int]:
        eos = self.generation_settings["eos_token_id"]
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]

    def _suppress_ids(self) -> list[int]:
        return self.generation_settings.get("suppress_tokens") or []

    def _begin_suppress_ids(self) -> list[int]:
        return self.generation_settings.get("begin_suppress_tokens") or []

    def _encoder_inputs(self, *, batch_size: int, audio: Any = SAMPLE_AUDIO) -> dict[str, Any]:
        """``input_features`` ``(batch_size, mel bins, 3000)`` of ``audio`` (a shipped recording's
        name, or a ``pathlib.Path`` to your own 16 kHz WAV), every row the same."""
        from ..inputs import check_input_bytes

        features = self._features(audio)
        check_input_bytes(features.numel() * 4 * batch_size, f"{batch_size} recordings of {tuple(features.shape)}")
        return {"input_features": features.expand(batch_size, -1, -1).clone()}

    def _synthetic_encoder(self, config: Any, *, batch_size: int, **options: Any) -> tuple[int, dict[str, Any]]:
        """Whisper's encoder output always spans ``max_source_positions`` (1500: 30 s of frames,
        halved by the second convolution); the decoder reads nothing else of the encoder side."""
        return config.max_source_positions, {}

    def _encoder_outputs(self, hidden: Any) -> Any:
        """A ``BaseModelOutput``, as Whisper's encoder returns it."""
        from transformers.modeling_outputs import BaseModelOutput

        return BaseModelOutput(last_hidden_state=hidden)

    def _generation_inputs(self, outputs: Any) -> dict[str, Any]:
        raise TypeError("decode_output needs both model= and inputs= to generate, or neither")

    def _tokenizer(self, *, warn: bool = True) -> Any:
        return self.tokenizer()

    def _text(self, tokenizer: Any, ids: list[int]) -> str:
        """The byte-level tokenizer spells the first word with its leading space: stripped."""
        return tokenizer.decode(ids, skip_special_tokens=True).strip()

    # ---- inputs --------------------------------------------------------------------------------

    def feature_extractor(self) -> Any:
        """The model's own ``WhisperFeatureExtractor``: from the hub cache (or the hub, online) at
        the pinned revision, else from the shipped ``preprocessor_config.json``."""
        source = self.source
        return _feature_extractor(
            source.hub_id, source.revision, str(self._shipped_file("preprocessor")), source.offline()
        )

    def _load_inputs(self, *, batch_size: int, audio: Any = SAMPLE_AUDIO, **kwargs: Any) -> dict[str, Any]:
        """``mode="prefill"``: ``input_features`` of ``audio`` (a shipped recording's name, or a
        ``pathlib.Path`` to your own 16 kHz WAV) and the ``decoder_input_ids`` prefix.

        ``mode="decode"``: one step after that prefix: the encoder's output (seeded random, shaped
        as the model's), a new token per row and an ``EncoderDecoderCache`` of seeded random
        keys and values for each of ``num_layers`` decoder layers (pass the same ``num_layers``
        and config overrides as to ``load_model``). A forward appends to the cache in place: call
        ``load_inputs`` again for every run.
        """
        return super()._load_inputs(batch_size=batch_size, audio=audio, **kwargs)

    def _features(self, audio: Any) -> Any:
        """``(1, mel bins, 3000)`` float32 log-mel features of a recording (computed once per file
        and extractor, returned as a fresh tensor)."""
        from ..inputs.audio import audio_path

        source = self.source
        path = audio_path(audio)
        stat = path.stat()
        extractor = (source.hub_id, source.revision, str(self._shipped_file("preprocessor")), source.offline())
        return _log_mel(extractor, str(path), stat.st_size, stat.st_mtime_ns).clone()

    # ---- outputs -------------------------------------------------------------------------------

    def transcribe(self, model: Any, *, audio: Any = SAMPLE_AUDIO, dtype_override: Any = None) -> str:
        """The transcript of one recording (the sample by default): ``decode_output`` of greedy
        generation on its inputs."""
        inputs = self.load_inputs(dtype_override=dtype_override, audio=audio)
        return self.decode_output(model=model, inputs=inputs)[0]

    # ---- tokenizer -----------------------------------------------------------------------------

    def tokenizer(self) -> Any | None:
        """The model's own ``tokenizers.Tokenizer`` (its ``tokenizer.json``) from the hub cache at
        the pinned revision, else from an installed mirror that holds it (checked against the
        sha256 the row pins); trusted only when its end-of-text and start-of-transcript tokens
        have the config's ids and it fits the vocabulary. None when none can be had.
        ``self.tokenizer_file`` records the file it came from."""
        source = self.source
        candidates = []
        from ..errors import WeightsUnavailableError
        from ..weights.huggingface import hub_file

        try:
            candidates.append(
                Path(hub_file(source.hub_id, "tokenizer.json", source.revision, offline=source.offline()))
            )
        except WeightsUnavailableError:  # not cached, or unreachable: the mirrors
            pass
        pins = self._variant_config.weights.mirror_sha256
        for folder in source.mirror_folders():
            path = folder / "tokenizer.json"
            if path.is_file():
                if "tokenizer.json" in pins:
                    from ..weights import check_sha256

                    check_sha256(
                        path, pins["tokenizer.json"], what=f"the tokenizer.json the table pins for {source.describe()}"
                    )
                candidates.append(path)
        settings = self.generation_settings
        for path in candidates:
            tokenizer = _tokenizer_file(str(path))
            if (
                tokenizer.token_to_id("<|endoftext|>") in self._eos_ids()
                and tokenizer.token_to_id("<|startoftranscript|>") == settings["decoder_start_token_id"]
                and tokenizer.get_vocab_size(with_added_tokens=True) <= self._shipped_config.vocab_size
            ):
                self.tokenizer_file = path
                return tokenizer
        self.tokenizer_file = None
        return None


def normalise_words(text: str) -> list[str]:
    """``text`` as the words a word error rate compares: lower case, punctuation removed (an
    apostrophe inside a word is kept: "don't")."""
    import re

    return re.findall(r"[a-z0-9]+(?:'[a-z0-9]+)*", text.lower())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """The word error rate of ``hypothesis`` against ``reference``: the fewest word substitutions,
    deletions and insertions that turn one into the other (Levenshtein over
    :func:`normalise_words`), divided by the number of reference words."""
    ref, hyp = normalise_words(reference), normalise_words(hypothesis)
    if not ref:
        raise ValueError("the reference has no words to compare against")
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (word != other))
    return row[-1] / len(ref)


@functools.lru_cache(maxsize=8)
def _tokenizer_file(path: str) -> Any:
    from tokenizers import Tokenizer

    return Tokenizer.from_file(path)


@functools.lru_cache(maxsize=16)
def _feature_extractor(hub_id: str, revision: str, shipped: str, offline: bool) -> Any:
    import transformers

    from ..weights.huggingface import hub_settings

    try:
        with hub_settings(offline=offline):
            return transformers.AutoFeatureExtractor.from_pretrained(
                hub_id, revision=revision, local_files_only=offline, trust_remote_code=False
            )
    except (OSError, ValueError):  # not cached offline, or unreachable: the identical shipped copy
        data = json.loads(Path(shipped).read_text(encoding="utf-8"))
        return transformers.WhisperFeatureExtractor.from_dict(data)


@functools.lru_cache(maxsize=8)
def _log_mel(extractor_key: tuple[str, str, str, bool], path: str, size: int, mtime_ns: int) -> Any:
    """The features of one file by one extractor (named by the arguments of :func:`_feature_extractor`)."""
    from ..inputs.audio import read_wav

    extractor = _feature_extractor(*extractor_key)
    samples = read_wav(Path(path), sampling_rate=extractor.sampling_rate)
    features = extractor(samples, sampling_rate=extractor.sampling_rate, return_tensors="pt").input_features
    return features.float()


__all__ = [
    "MAX_NEW_TOKENS",
    "WHISPER_CLASS",
    "WHISPER_LAYERS",
    "SpeechRecognitionLoader",
    "asr_row",
    "normalise_words",
    "word_error_rate",
]
