"""Turning raw outputs into what a person reads; every loader's ``decode_output`` returns these."""

from __future__ import annotations

from typing import Any, Sequence


def topk_classes(logits: Any, categories: Sequence[str], k: int = 5) -> list[list[dict[str, Any]]]:
    """Per image, the ``k`` most likely classes: ``{"label", "class_id", "probability"}``."""
    import torch

    if logits.dim() == 1:
        logits = logits.unsqueeze(0)
    if logits.shape[-1] != len(categories):
        raise ValueError(f"logits have {logits.shape[-1]} classes but {len(categories)} names were given")
    k = max(1, min(int(k), logits.shape[-1]))
    probs = torch.softmax(logits.detach().float(), dim=-1)
    values, indices = probs.topk(k, dim=-1)
    return [
        [
            {"label": categories[i], "class_id": int(i), "probability": float(p)}
            for p, i in zip(row_values.tolist(), row_indices.tolist())
        ]
        for row_values, row_indices in zip(values, indices)
    ]
