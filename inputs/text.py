"""Text inputs: a tokenizer that is verified before it is trusted, or synthetic token ids.

A tokenizer is looked for in three places, in order: the model's own hub repository at the pinned
revision (the Hugging Face cache; downloaded only when online), then ``fallbacks``: folders that
hold an identical tokenizer, such as an installed package that ships the same vocabulary. Each
candidate must have exactly the model's vocabulary size and its special tokens; a fallback must
also reproduce the declared vocabulary fingerprint. When none passes, the caller builds
deterministic synthetic ids with :func:`synthetic_ids`.

Why verify: offline, ``transformers`` can silently return a five-token tokenizer for a hub id
it has not cached, which maps every word to the unknown token and still "works".

Only the standard library is imported at module level.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..errors import PreprocessorFallbackWarning


@dataclass
class TextSample:
    """What a text loader's ``load_inputs`` produced, kept so ``decode_output`` can map outputs
    back to text: the rows, their tensors, the tokenizer's encoding (offsets, word ids; None for
    synthetic ids) and the tokenizer (or None)."""

    rows: list[Any]
    tensors: dict[str, Any]
    encoding: Any
    tokenizer: Any

    @property
    def batch_size(self) -> int:
        return int(self.tensors["input_ids"].shape[0])


def vocab_fingerprint(tokenizer: Any) -> str:
    """sha256 of the vocabulary written as a WordPiece ``vocab.txt``: one token a line, in id order.

    For a WordPiece tokenizer this equals the sha256 of its ``vocab.txt`` file, so it can be
    compared with the hash published for that file.
    """
    vocab = tokenizer.get_vocab()
    tokens = sorted(vocab, key=vocab.__getitem__)
    return hashlib.sha256(("\n".join(tokens) + "\n").encode("utf-8")).hexdigest()


def tokenizer_problem(
    tokenizer: Any,
    *,
    vocab_size: int,
    special_tokens: Sequence[str] = ("cls_token", "sep_token", "pad_token"),
    vocab_sha256: str | None = None,
    pad_multiple: int = 1,
    tokenizer_size: int | None = None,
) -> str | None:
    """Why ``tokenizer`` cannot be trusted for a model with ``vocab_size`` embeddings, or None.

    Its size must be the vocabulary's; or, for a model that pads its embedding table to a multiple
    of ``pad_multiple`` rows (Mamba's ``pad_vocab_size_multiple``: 50,277 tokens in 50,280 rows),
    round up to it; or be exactly ``tokenizer_size`` where the embedding has rows no token uses
    (T5's 32,100 tokens in 32,128 rows).
    """
    size = len(tokenizer)
    if tokenizer_size is not None:
        if size != tokenizer_size or tokenizer_size > vocab_size:
            rows = f"{tokenizer_size} ({vocab_size} embedding rows)"
            return f"it has {size} tokens but the model has a vocabulary of {rows}"
        return None
    padded = -(-size // pad_multiple) * pad_multiple if pad_multiple > 1 else size
    if padded != vocab_size:
        padding = f" (padded to a multiple of {pad_multiple}: {padded})" if pad_multiple > 1 else ""
        return f"it has {size} tokens{padding} but the model has a vocabulary of {vocab_size}"
    unk = getattr(tokenizer, "unk_token_id", None)
    for attr in special_tokens:
        token_id = getattr(tokenizer, f"{attr}_id", None)
        if token_id is None or not 0 <= token_id < vocab_size:
            return f"its {attr} is missing or outside the vocabulary ({token_id!r})"
        if attr != "unk_token" and token_id == unk:
            return f"its {attr} maps to the unknown token"
    if vocab_sha256 is not None and vocab_fingerprint(tokenizer) != vocab_sha256:
        return f"its vocabulary fingerprint is not {vocab_sha256[:12]}..."
    return None


def load_tokenizer(
    hub_id: str,
    revision: str | None,
    *,
    vocab_size: int,
    fallbacks: Sequence[str | os.PathLike] = (),
    vocab_sha256: str | None = None,
    special_tokens: Sequence[str] = ("cls_token", "sep_token", "pad_token"),
    offline: bool | None = None,
    warn: bool = True,
    pad_multiple: int = 1,
    tokenizer_size: int | None = None,
) -> Any | None:
    """A verified tokenizer for ``hub_id`` at ``revision``, or None when none can be had.

    ``fallbacks`` are folders, or installed-package folders written ``"<package>/<folder>"``,
    that hold an identical tokenizer; they are tried in order after the model's own. When
    ``vocab_sha256`` is given a fallback must match it (see :func:`vocab_fingerprint`).
    ``tokenizer_size`` is the tokenizer's own size where it is below ``vocab_size`` (see
    :func:`tokenizer_problem`).
    ``offline`` defaults to the package's offline rule (switches set, or the hub not answering).
    ``pad_multiple``: the model pads its vocabulary to a multiple of it (see :func:`tokenizer_problem`).
    With ``warn``, returning None emits one :class:`PreprocessorFallbackWarning` saying what was
    tried and how to get the real tokenizer.
    """
    from ..weights.policy import hub_offline

    if offline is None:
        offline = hub_offline()
    tried: list[str] = []
    missing: list[str] = []
    candidates = [(hub_id, revision, offline, None)]
    candidates += [(folder, None, True, vocab_sha256) for folder in _resolve_folders(fallbacks, missing)]
    for where, rev, local_only, fingerprint in candidates:
        try:
            tokenizer = _from_pretrained(str(where), rev, local_only)
        except (OSError, ValueError) as err:  # not cached, unreachable, or not a tokenizer folder
            tried.append(f"{where}: {type(err).__name__}")
            continue
        problem = tokenizer_problem(
            tokenizer,
            vocab_size=vocab_size,
            special_tokens=special_tokens,
            vocab_sha256=fingerprint,
            pad_multiple=pad_multiple,
            tokenizer_size=tokenizer_size,
        )
        if problem is None:
            return tokenizer
        tried.append(f"{where}: rejected, {problem}")
    if warn:
        warnings.warn(
            f"no tokenizer for {hub_id}@{revision or 'main'} could be had{' offline' if offline else ''} "
            f"({'; '.join(tried + missing)}); using deterministic synthetic token ids instead. To get the real "
            f"tokenizer, fill the Hugging Face cache with {hub_id} at revision {revision} "
            "(`python -m tt_forge_models prefetch` on a machine with network).",
            PreprocessorFallbackWarning,
            stacklevel=2,
        )
    return None


def _resolve_folders(fallbacks: Sequence[str | os.PathLike], missing: list[str]) -> list[Path]:
    from ..weights import package_folder

    folders = []
    for spec in fallbacks:
        folder = Path(spec) if isinstance(spec, os.PathLike) or Path(str(spec)).is_absolute() else package_folder(spec)
        if folder is None or not folder.is_dir():
            missing.append(f"{spec}: not installed")
        else:
            folders.append(folder)
    return folders


@lru_cache(maxsize=32)
def _from_pretrained(where: str, revision: str | None, local_files_only: bool) -> Any:
    # Cached: loading a tokenizer costs about half a second, and loaders ask again per call.
    # Failures raise, so they are not cached and a later call retries.
    import transformers

    from ..weights import offline_switch_on
    from ..weights.huggingface import hub_settings

    with hub_settings(offline=local_files_only or offline_switch_on()):
        return transformers.AutoTokenizer.from_pretrained(
            where, revision=revision, local_files_only=local_files_only, trust_remote_code=False
        )


def repeat_to_batch(samples: Sequence[Any], batch_size: int) -> list[Any]:
    """Row ``i`` of the batch is ``samples[i % len(samples)]``: deterministic for any batch size."""
    if not samples:
        raise ValueError("at least one sample is needed to build a batch")
    return [samples[i % len(samples)] for i in range(batch_size)]


def encode(tokenizer: Any, rows: Sequence[Any], *, max_length: int, offsets: bool = True) -> Any:
    """Tokenize ``rows`` (strings or pairs) padded to exactly ``max_length``, as int64 tensors.

    Pairs are truncated in their second text, which keeps a question whole and cuts its context.
    The returned ``BatchEncoding`` keeps ``offset_mapping`` (when ``offsets``), ``word_ids`` and
    ``sequence_ids``, so outputs can be mapped back to characters.
    """
    pairs = isinstance(rows[0], tuple)
    first = [r[0] for r in rows] if pairs else list(rows)
    second = [r[1] for r in rows] if pairs else None
    return tokenizer(
        first,
        second,
        max_length=max_length,
        padding="max_length",
        truncation="only_second" if pairs else True,
        return_offsets_mapping=offsets,
        return_tensors="pt",
    )


_PIECES = re.compile(r"\[[A-Z]+\]|\w+|[^\w\s]")


def pieces(text: str) -> list[str]:
    """Words and punctuation marks, with bracketed special tokens such as ``[MASK]`` kept whole."""
    return _PIECES.findall(text)


def synthetic_ids(
    rows: Sequence[Any],
    *,
    max_length: int,
    vocab_size: int,
    pad_id: int,
    cls_id: int | None = None,
    sep_id: int | None = None,
    special: Mapping[str, int] | None = None,
    low: int | None = None,
    token_type_ids: bool = True,
) -> dict[str, Any]:
    """Deterministic token ids with a real tokenizer's layout, for when no tokenizer can be had.

    Each row (a string or a pair) becomes ``[cls] A [sep] B [sep]`` padded with ``pad_id`` to
    ``max_length`` (``cls_id``/``sep_id`` None leave them out). Every word or punctuation mark is
    hashed (crc32) to an id in ``[low, vocab_size)``, so equal words get equal ids; pieces named in
    ``special`` (``{"[MASK]": 103}``) get their id. ``low`` defaults to one above the largest
    special id. Returns int64 ``input_ids``, ``attention_mask`` and, with ``token_type_ids``, the
    segment ids (0 for A, 1 for B).
    """
    import torch

    special = dict(special or {})
    reserved = [i for i in (pad_id, cls_id, sep_id, *special.values()) if i is not None]
    low = max(reserved) + 1 if low is None else low
    if not 0 <= low < vocab_size:
        raise ValueError(f"low must be in [0, {vocab_size}), got {low}")
    width = vocab_size - low
    ids = torch.full((len(rows), max_length), pad_id, dtype=torch.int64)
    types = torch.zeros((len(rows), max_length), dtype=torch.int64)
    mask = torch.zeros((len(rows), max_length), dtype=torch.int64)
    for r, row in enumerate(rows):
        segments = [
            [special[p] if p in special else low + zlib.crc32(p.encode("utf-8")) % width for p in pieces(text)]
            for text in (row if isinstance(row, tuple) else (row,))
        ]
        budget = max_length - (cls_id is not None) - (sep_id is not None) * len(segments)
        _truncate(segments, budget)
        tokens, segment_of = [], []
        if cls_id is not None:
            tokens, segment_of = [cls_id], [0]
        for s, segment in enumerate(segments):
            tail = [sep_id] if sep_id is not None else []
            tokens += segment + tail
            segment_of += [s] * (len(segment) + len(tail))
        n = len(tokens)
        ids[r, :n] = torch.tensor(tokens, dtype=torch.int64)
        types[r, :n] = torch.tensor(segment_of, dtype=torch.int64)
        mask[r, :n] = 1
    out = {"input_ids": ids, "attention_mask": mask}
    if token_type_ids:
        out["token_type_ids"] = types
    return out


def _truncate(segments: list[list[int]], budget: int) -> None:
    if budget < len(segments):
        raise ValueError(f"max_length leaves no room for {len(segments)} text segment(s)")
    # Cut the last segment first (the context of a question), as tokenizers do with only_second.
    for segment in reversed(segments):
        excess = sum(map(len, segments)) - budget
        if excess <= 0:
            break
        del segment[max(1, len(segment) - excess) :]


__all__ = [
    "encode",
    "load_tokenizer",
    "pieces",
    "repeat_to_batch",
    "synthetic_ids",
    "tokenizer_problem",
    "vocab_fingerprint",
]
