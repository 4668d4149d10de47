"""Turning raw outputs into what a person reads; every loader's ``decode_output`` returns these."""

from __future__ import annotations

from typing import Any, Sequence


def topk_classes(logits: Any, categories: Sequence[str], k: int = 5) -> list[list[dict[str, Any]]]:
    """Per image, the ``k`` most likely classes: ``{"label", "class_id", "probability"}``."""
    import torch

    from ..validation import check_top_k

    k = check_top_k(k)
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a tensor, got {type(logits).__name__}")
    if logits.dim() == 1:
        logits = logits.unsqueeze(0)
    if logits.shape[-1] != len(categories):
        raise ValueError(f"logits have {logits.shape[-1]} classes but {len(categories)} names were given")
    k = min(k, logits.shape[-1])
    probs = torch.softmax(logits.detach().float(), dim=-1)
    values, indices = probs.topk(k, dim=-1)
    return [
        [
            {"label": categories[i], "class_id": int(i), "probability": float(p)}
            for p, i in zip(row_values.tolist(), row_indices.tolist())
        ]
        for row_values, row_indices in zip(values, indices)
    ]


# ---- text ---------------------------------------------------------------------------------------


def best_span(
    start_logits: Any, end_logits: Any, allowed: Any, *, max_tokens: int = 30
) -> tuple[int, int, float] | None:
    """The extractive-QA answer of one row: ``(start, end, score)`` token indices, inclusive.

    The span maximises ``start_logits[s] + end_logits[e]`` over ``s <= e < s + max_tokens`` with
    every position in ``allowed`` (a bool mask: the context tokens). None when nothing is allowed.
    """
    import torch

    start = start_logits.detach().float()
    end = end_logits.detach().float()
    allowed = allowed.to(torch.bool)
    if not bool(allowed.any()):
        return None
    n = start.shape[-1]
    scores = start[:, None] + end[None, :]
    pos = torch.arange(n)
    valid = (pos[None, :] >= pos[:, None]) & (pos[None, :] - pos[:, None] < max_tokens)
    valid &= allowed[:, None] & allowed[None, :]
    scores = scores.masked_fill(~valid, float("-inf"))
    flat = int(scores.argmax())
    s, e = divmod(flat, n)
    return s, e, float(scores[s, e])


def entity_spans(words: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge per-word IOB labels into entity spans.

    ``words`` are in reading order, each ``{"label": "B-PER" | "I-PER" | "O", "score": p,
    "start": char, "end": char}``. A word continues the entity of the word before it when its
    label is ``I-`` of the same type; ``B-``, another type or an ``O`` in between starts anew
    (IOB1 and IOB2 alike). Returns ``{"entity", "start", "end", "score"}``, the score being the
    mean over the span's words.
    """
    spans: list[dict[str, Any]] = []
    scores: list[list[float]] = []
    previous = "O"
    for word in words:
        label = str(word["label"])
        prefix, _, kind = label.rpartition("-")
        if label == "O":
            previous = label
            continue
        if prefix == "I" and previous != "O" and previous.rpartition("-")[2] == kind:
            spans[-1]["end"] = word["end"]
            scores[-1].append(float(word["score"]))
        else:
            spans.append({"entity": kind, "start": word["start"], "end": word["end"]})
            scores.append([float(word["score"])])
        previous = label
    for span, values in zip(spans, scores):
        span["score"] = sum(values) / len(values)
    return spans


def mean_pool(hidden: Any, attention_mask: Any, *, normalize: bool = True) -> Any:
    """Sentence vectors: the mean of ``hidden`` (batch, seq, dim) over the tokens the mask keeps,
    L2-normalised when ``normalize`` (as sentence-transformers' mean pooling does), in float32."""
    import torch

    mask = attention_mask.to(torch.float32).unsqueeze(-1)
    summed = (hidden.detach().float() * mask).sum(dim=1)
    vectors = summed / mask.sum(dim=1).clamp(min=1e-9)
    return torch.nn.functional.normalize(vectors, dim=-1) if normalize else vectors


def cosine_matrix(vectors: Any) -> Any:
    """Pairwise cosine similarity of row vectors."""
    import torch

    unit = torch.nn.functional.normalize(vectors.float(), dim=-1)
    return unit @ unit.T
