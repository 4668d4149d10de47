"""Audio for speech models: the sample recording shipped in ``assets/``, read with the standard
library's ``wave`` module (16-bit PCM; no audio library needed).

``speech.wav`` is 12.8 s of 16 kHz mono synthetic English speech made for this project (espeak-ng,
see ``assets/README.md``) of :data:`SPEECH_TEXT`.
"""

from __future__ import annotations

import os
import wave
from functools import lru_cache
from pathlib import Path
from typing import Any

from .vision import ASSETS

SAMPLE_AUDIO = "speech.wav"
#: what ``speech.wav`` says (``assets/README.md``)
SPEECH_TEXT = (
    "A compiler turns models into fast code. Every test compares the device with the reference on the same "
    "inputs. Seven models passed and two failed."
)
#: sha256 of ``assets/speech.wav`` (the README's)
SPEECH_SHA256 = "d3cfe802dfb0b28ab93077f18c0777e19587b9e8fe28ff315a5ab99931b373b3"


def audio_path(name: Any = SAMPLE_AUDIO) -> Path:
    """The file of a recording: a ``str`` names a ``.wav`` shipped in ``assets/`` (never an
    arbitrary file); a ``pathlib.Path`` (any ``os.PathLike``) is your own file. Anything else is a
    TypeError, an unknown asset name a ValueError listing them."""
    if isinstance(name, os.PathLike):
        path = Path(name)
        if not path.is_file():
            raise FileNotFoundError(f"audio file {str(path)!r} is not a file")
        return path
    if isinstance(name, str):
        available = sorted(p.name for p in ASSETS.iterdir() if p.suffix.lower() == ".wav")
        if name not in available:
            raise ValueError(
                f"no sample recording {name!r} in assets/; available: {', '.join(available)}. To read your "
                "own WAV file, pass a pathlib.Path"
            )
        return ASSETS / name
    raise TypeError(
        f"audio must be the name of a shipped sample (str) or a pathlib.Path you choose, got {type(name).__name__} "
        f"{name!r}"
    )


def read_wav(name: Any = SAMPLE_AUDIO, *, sampling_rate: int = 16_000) -> Any:
    """A recording as float32 samples in [-1, 1] (numpy), its channels averaged to mono.

    It must be uncompressed 16-bit PCM at ``sampling_rate`` Hz (what the feature extractors
    expect): another format or rate is a ValueError saying what the file is, since no resampling
    is done here. The array is read once per file and returned as a fresh copy.
    """
    path = audio_path(name)
    stat = path.stat()
    return _read(str(path), stat.st_size, stat.st_mtime_ns, sampling_rate).copy()


@lru_cache(maxsize=8)
def _read(path: str, size: int, mtime_ns: int, sampling_rate: int) -> Any:
    import numpy as np

    try:
        with wave.open(path, "rb") as wav:
            channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
            compression, frames = wav.getcomptype(), wav.readframes(wav.getnframes())
    except (wave.Error, EOFError, OSError) as err:
        raise ValueError(f"cannot read {path!r} as a WAV file: {err}") from err
    if compression != "NONE" or width != 2:
        raise ValueError(
            f"{path!r} is {8 * width}-bit {compression} audio; expected uncompressed 16-bit PCM (e.g. "
            "`sox in.wav -b 16 out.wav`)"
        )
    if rate != sampling_rate:
        raise ValueError(
            f"{path!r} is sampled at {rate} Hz; the model expects {sampling_rate} Hz (resample it first, e.g. "
            f"`sox in.wav -r {sampling_rate} out.wav`)"
        )
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
    if channels > 1:
        samples = samples.reshape(-1, channels).mean(axis=1)
    samples.setflags(write=False)
    return samples


__all__ = ["SAMPLE_AUDIO", "SPEECH_SHA256", "SPEECH_TEXT", "audio_path", "read_wav"]
