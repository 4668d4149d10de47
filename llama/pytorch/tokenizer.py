"""Llama tokenizers: the real one when it can be had and verified, else synthetic ids.

Private to the Llama loader because the shared text helpers (``inputs/text.py``) had not landed
when it was written; once they do, this module reduces to calls into them.

The real tokenizer is ``AutoTokenizer`` at the variant's pinned revision, from the Hugging Face
cache (downloaded only when online; the meta-llama repositories are gated, so that needs a token).
It is trusted only when its size equals the config's vocabulary and its BOS token is the config's:
offline, transformers can hand back a stub tokenizer that "works" and maps every word to one id.
Otherwise the prompt becomes deterministic synthetic ids (BOS first, then one id per word or
punctuation mark) with one :class:`PreprocessorFallbackWarning`.
"""

from __future__ import annotations

import re
import warnings
import zlib
from functools import lru_cache
from typing import Any

from ...errors import PreprocessorFallbackWarning

_PIECES = re.compile(r"\w+|[^\w\s]")


def load_tokenizer(source: Any, config: Any, *, warn: bool = True) -> Any | None:
    """The verified tokenizer of ``source`` (a ``HuggingFaceSource``), or None."""
    offline = source.offline()
    try:
        tokenizer = _from_pretrained(source.hub_id, source.revision, offline)
        problem = _problem(tokenizer, config)
    except (OSError, ValueError) as err:  # not cached, gated, unreachable, or not a tokenizer
        problem = f"{type(err).__name__}: {str(err).strip().splitlines()[0] if str(err).strip() else ''}"
    if problem is None:
        return tokenizer
    if warn:
        warnings.warn(
            f"no tokenizer for {source.hub_id}@{source.revision} could be had"
            f"{' offline' if offline else ''} ({problem}); using deterministic synthetic token ids "
            f"(BOS {config.bos_token_id}, then one id per word) instead. To get the real tokenizer, "
            f"fill the Hugging Face cache with {source.hub_id} at revision {source.revision} "
            "(`python -m tt_forge_models prefetch` with network, and a token for gated models).",
            PreprocessorFallbackWarning,
            stacklevel=4,
        )
    return None


@lru_cache(maxsize=16)
def _from_pretrained(hub_id: str, revision: str, local_files_only: bool) -> Any:
    # Cached: a tokenizer takes about half a second to load and loaders ask on every call.
    # Failures raise and are not cached, so a later call retries.
    import transformers

    return transformers.AutoTokenizer.from_pretrained(
        hub_id, revision=revision, local_files_only=local_files_only, trust_remote_code=False
    )


def _problem(tokenizer: Any, config: Any) -> str | None:
    if len(tokenizer) != config.vocab_size:
        return f"it has {len(tokenizer)} tokens but the model has a vocabulary of {config.vocab_size}"
    if tokenizer.bos_token_id != config.bos_token_id:
        return f"its BOS token is {tokenizer.bos_token_id!r}, the model's is {config.bos_token_id}"
    return None


def pad_id(config: Any) -> int:
    """The config's pad token, else its (first) end-of-sequence token, as Llama has no pad token."""
    if config.pad_token_id is not None:
        return config.pad_token_id
    eos = config.eos_token_id
    return eos[0] if isinstance(eos, (list, tuple)) else eos


def prompt_ids(tokenizer: Any | None, config: Any, prompt: str) -> tuple[list[int], int]:
    """The prompt's ids, BOS first, and the padding id."""
    if tokenizer is not None:
        ids = list(tokenizer(prompt)["input_ids"])
        if not ids or ids[0] != config.bos_token_id:
            ids = [config.bos_token_id] + ids
        return ids, pad_id(config)
    return synthetic_ids(prompt, config), pad_id(config)


def synthetic_ids(text: str, config: Any) -> list[int]:
    """BOS, then each word or punctuation mark hashed (crc32) to an ordinary token id.

    Ordinary ids lie between the special tokens at the bottom of the vocabulary (TinyLlama's
    0-2) and those at the top (Llama 3's 128000 and up), so no synthetic id is a control token.
    """
    eos = config.eos_token_id
    specials = {config.bos_token_id, *(eos if isinstance(eos, (list, tuple)) else [eos]), pad_id(config)}
    vocab = config.vocab_size
    low = max((s + 1 for s in specials if s < vocab // 2), default=0)
    high = min((s for s in specials if s >= vocab // 2), default=vocab)
    span = high - low
    return [config.bos_token_id] + [low + zlib.crc32(piece.encode()) % span for piece in _PIECES.findall(text)]
