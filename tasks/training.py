"""Training with the zoo's models: deterministic dropout, a loss per task, and a short loop.

- :func:`set_dropout` sets every dropout probability of a built model (``load_model(dropout=p)``
  calls it), so two training runs of the same model on the same inputs give bit-identical
  gradients at ``p=0.0``.
- :func:`objective` is the loss of a variant's task: :func:`prepare_batch` builds the training batch
  and its targets once from the sample inputs, and :func:`task_loss` is the loss of one forward.
- :func:`train` runs a few optimizer steps on that one batch (what ``tt-forge-models train`` does):
  a smoke test that every parameter gets a useful gradient and the loss goes down.

No labelled data ships with the zoo, so each task's target comes from the sample itself (the table
in :data:`OBJECTIVES` says which). Nothing here draws from torch's global RNG: the masked-LM mask
comes from a seeded ``torch.Generator`` (only dropout above 0, in train mode, draws from it, as
torch's dropout does). Only the standard library is imported at module level.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config import ModelTask

# Attribute and config-field names of dropout-like probabilities read at call time: BERT's
# hidden_dropout_prob, Llama's attention_dropout, GPT-2's attn_pdrop, timm's drop_rate /
# drop_path_rate, DropPath's drop_prob, wav2vec's layerdrop. Modules (DropPath, Dropout) and None
# (a disabled slot) are skipped.
_RATE_NAME = re.compile(r"dropout|pdrop|layerdrop|drop_?(?:path_|block_)?(?:rate|prob)", re.IGNORECASE)


# ---- dropout ------------------------------------------------------------------------------------


def check_dropout(value: Any) -> float | None:
    """``None`` (the model's own dropout) or a probability in [0, 1] as a float; else an error."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"dropout must be a float in [0, 1] or None (the model's own dropout), got {type(value).__name__} {value!r}"
        )
    if not 0.0 <= value <= 1.0:  # NaN fails too
        raise ValueError(f"dropout must be a float in [0, 1] or None (the model's own dropout), got {value!r}")
    return float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_rate(name: str, value: Any) -> bool:
    return not name.startswith("_") and _is_number(value) and _RATE_NAME.search(name) is not None


def set_dropout(model: Any, p: float) -> list[str]:
    """Set every dropout probability in ``model`` to ``p``; returns the names it set.

    Covered, by walking modules and attributes by name (no family is special-cased):

    - every ``torch.nn.Dropout*`` module and drop-path style module with a float ``p``
      (torchvision's ``StochasticDepth``);
    - float attributes of any module named like a dropout rate that its ``forward`` reads
      (Llama's ``attention_dropout``, timm's ``drop_rate``, ``DropPath.drop_prob``);
    - the float ``*dropout*`` fields of every Hugging Face config the model holds, nested ones
      included, so a later re-initialisation or ``save_pretrained`` sees them.

    Only attributes change, so it is harmless on the meta device and in eval mode.
    """
    import torch

    p = check_dropout(p)
    if p is None:
        raise TypeError("set_dropout needs a probability in [0, 1], got None")
    changed: list[str] = []
    configs: dict[int, tuple[str, Any]] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        kind = type(module).__name__.lower()
        if isinstance(module, torch.nn.modules.dropout._DropoutNd) or (
            ("drop" in kind or "stochasticdepth" in kind) and _is_number(getattr(module, "p", None))
        ):
            module.p = p
            changed.append(f"{prefix}p")
        for attr, value in list(vars(module).items()):
            if _is_rate(attr, value):
                setattr(module, attr, p)
                changed.append(prefix + attr)
        config = getattr(module, "config", None)
        if config is not None and callable(getattr(config, "to_dict", None)):
            configs.setdefault(id(config), (f"{prefix}config", config))
    seen: set[int] = set()
    for label, config in configs.values():
        changed.extend(_set_config_dropout(config, p, label, seen))
    return changed


def _set_config_dropout(config: Any, p: float, label: str, seen: set[int]) -> list[str]:
    if id(config) in seen:
        return []
    seen.add(id(config))
    changed = []
    for field, value in list(vars(config).items()):
        if _is_rate(field, value):
            setattr(config, field, p)
            changed.append(f"{label}.{field}")
        elif not field.startswith("_") and callable(getattr(value, "to_dict", None)) and hasattr(value, "model_type"):
            changed.extend(_set_config_dropout(value, p, f"{label}.{field}", seen))  # text_config, vision_config
    return changed


# ---- objectives ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """The training loss of one task.

    ``prepare(loader, model, inputs, generator)`` returns the training inputs and the targets,
    once, before the first step; ``loss(loader, outputs, inputs, targets)`` returns a scalar.
    """

    task: ModelTask
    description: str
    prepare: Callable[..., tuple[Any, Any]]
    loss: Callable[..., Any]


def _logits(loader: Any, outputs: Any) -> Any:
    return loader.unpack_forward_output(outputs).float()


def _flat_cross_entropy(logits: Any, targets: Any) -> Any:
    """Cross entropy of every position against ``targets``, skipping those set to -100."""
    import torch.nn.functional as F

    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)


def _forward(loader: Any, model: Any, inputs: Any) -> Any:
    import torch

    with torch.no_grad():
        return loader.call_model(model, inputs)


# Classification: the top class of the seeded model's own first prediction is the label. Cross
# entropy against it falls as the model grows confident: a gradient through every layer, no data.


def _prepare_top_class(loader: Any, model: Any, inputs: Any, generator: Any) -> tuple[Any, Any]:
    return inputs, _logits(loader, _forward(loader, model, inputs)).argmax(dim=1)


def _loss_top_class(loader: Any, outputs: Any, inputs: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    # (B, C) against (B,); QA's (B, T, 2) against (B, 2): the positions are the classes, start and end.
    return F.cross_entropy(_logits(loader, outputs), targets)


def _prepare_token_class(loader: Any, model: Any, inputs: Any, generator: Any) -> tuple[Any, Any]:
    targets = _logits(loader, _forward(loader, model, inputs)).argmax(dim=-1)
    return inputs, targets.masked_fill(inputs["attention_mask"] == 0, -100)  # padding is no token


def _loss_token_class(loader: Any, outputs: Any, inputs: Any, targets: Any) -> Any:
    return _flat_cross_entropy(_logits(loader, outputs), targets)


# Causal LM: next-token prediction on the sample's own tokens.


def _prepare_causal(loader: Any, model: Any, inputs: Any, generator: Any) -> tuple[Any, Any]:
    ids = inputs["input_ids"]
    mask = inputs.get("attention_mask")
    labels = ids[:, 1:].clone()
    if mask is not None:
        # A label counts when it and the token that predicts it are both real (left padding).
        labels = labels.masked_fill((mask[:, 1:] == 0) | (mask[:, :-1] == 0), -100)
    return inputs, labels


def _loss_causal(loader: Any, outputs: Any, inputs: Any, targets: Any) -> Any:
    return _flat_cross_entropy(_logits(loader, outputs)[:, :-1], targets)


# Masked LM: BERT's own pre-training task on the sample: hide 15% of its real tokens, predict them.

MASK_FRACTION = 0.15


def _mask_ids(loader: Any) -> tuple[int, set[int]]:
    """The mask token id and every special id, from the loader's tokenizer or its special-id table."""
    tokenizer = getattr(loader, "tokenizer", None)
    if tokenizer is not None and getattr(tokenizer, "mask_token_id", None) is not None:
        return int(tokenizer.mask_token_id), set(map(int, tokenizer.all_special_ids))
    special = getattr(loader, "_special_ids", None)
    if isinstance(special, dict) and "mask" in special:
        return int(special["mask"]), set(map(int, special.values()))
    raise ValueError(f"masked-LM training of {loader._model_label()} needs a tokenizer with a mask token")


def _prepare_masked(loader: Any, model: Any, inputs: Any, generator: Any) -> tuple[Any, Any]:
    import torch

    mask_id, special = _mask_ids(loader)
    ids = inputs["input_ids"]
    real = torch.ones_like(ids, dtype=torch.bool)
    if "attention_mask" in inputs:
        real &= inputs["attention_mask"].bool()
    for token in special:
        real &= ids != token
    labels = torch.full_like(ids, -100)
    masked = ids.clone()
    for row in range(ids.shape[0]):
        candidates = real[row].nonzero().flatten()
        if candidates.numel() == 0:
            continue
        count = max(1, round(MASK_FRACTION * candidates.numel()))
        chosen = candidates[torch.randperm(candidates.numel(), generator=generator)[:count]]
        labels[row, chosen] = ids[row, chosen]
        masked[row, chosen] = mask_id
    if not (labels != -100).any():
        raise ValueError("the sample has no real tokens to mask")
    return {**inputs, "input_ids": masked}, labels


# Sentence embeddings: torch's cosine embedding loss over every pair of distinct sentences in the
# batch, on mean-pooled vectors: pairs the loader declares paraphrases (its ``PARAPHRASES``, sample
# row indices, from the text-encoder task base) are pulled to cosine 1, every other pair pushed to cosine <= 0.


def _sentence_index(ids: Any) -> list[int]:
    """For each batch row, the first row with the same tokens: the sample sentence it repeats."""
    first: dict[tuple[int, ...], int] = {}
    return [first.setdefault(tuple(row), i) for i, row in enumerate(ids.tolist())]


def _prepare_embedding(loader: Any, model: Any, inputs: Any, generator: Any) -> tuple[Any, Any]:
    import torch

    declared = getattr(loader, "PARAPHRASES", ())
    positives = {frozenset(declared)} if len(declared) == 2 else set()
    sentence = _sentence_index(inputs["input_ids"])
    left, right, label = [], [], []
    for i in range(len(sentence)):
        for j in range(i + 1, len(sentence)):
            if sentence[i] != sentence[j]:
                left.append(i)
                right.append(j)
                label.append(1.0 if frozenset((sentence[i], sentence[j])) in positives else -1.0)
    if not left:
        raise ValueError("the embedding objective needs at least two different sentences: use a batch size >= 2")
    return inputs, (torch.tensor(left), torch.tensor(right), torch.tensor(label))


def _loss_embedding(loader: Any, outputs: Any, inputs: Any, targets: Any) -> Any:
    import torch.nn.functional as F

    hidden = _logits(loader, outputs)
    weight = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * weight).sum(1) / weight.sum(1).clamp(min=1.0)
    left, right, label = targets
    return F.cosine_embedding_loss(pooled[left], pooled[right], label)


# Detection: no boxes ship with the zoo, so the smoke loss is the mean square of the raw head maps;
# it reaches every head and falls as they are driven towards zero.


def _prepare_none(loader: Any, model: Any, inputs: Any, generator: Any) -> tuple[Any, Any]:
    return inputs, None


def _loss_head_square(loader: Any, outputs: Any, inputs: Any, targets: Any) -> Any:
    return _logits(loader, outputs).pow(2).mean()


_TOP = "cross entropy against the top class of the model's own first prediction"
OBJECTIVES: dict[ModelTask, Objective] = {
    o.task: o
    for o in (
        Objective(ModelTask.CV_IMAGE_CLS, _TOP, _prepare_top_class, _loss_top_class),
        Objective(ModelTask.NLP_TEXT_CLS, _TOP, _prepare_top_class, _loss_top_class),
        Objective(ModelTask.NLP_TOKEN_CLS, _TOP + ", per real token", _prepare_token_class, _loss_token_class),
        Objective(
            ModelTask.NLP_QA,
            "cross entropy against the first prediction's top start and end positions",
            _prepare_top_class,
            _loss_top_class,
        ),
        Objective(
            ModelTask.NLP_CAUSAL_LM,
            "next-token cross entropy on the sample, padding masked",
            _prepare_causal,
            _loss_causal,
        ),
        Objective(
            ModelTask.NLP_MASKED_LM,
            f"cross entropy on {MASK_FRACTION:.0%} of the real tokens, masked by a seeded generator",
            _prepare_masked,
            _loss_token_class,
        ),
        Objective(
            ModelTask.NLP_EMBED_GEN,
            "cosine embedding loss on mean-pooled sentences: paraphrases together, the others apart",
            _prepare_embedding,
            _loss_embedding,
        ),
        Objective(
            ModelTask.CV_OBJECT_DET,
            "mean square of the raw head maps (no boxes ship with the zoo)",
            _prepare_none,
            _loss_head_square,
        ),
    )
}


def objective(loader: Any) -> Objective:
    """The objective of the loader's task; a ``ValueError`` for a task that has none."""
    task = loader.get_model_info().task
    try:
        return OBJECTIVES[task]
    except KeyError:
        have = ", ".join(str(t) for t in OBJECTIVES)
        raise ValueError(f"no training objective for task {task}; tasks with one: {have}") from None


def prepare_batch(loader: Any, model: Any, inputs: Any, *, seed: int = 0) -> tuple[Any, Any]:
    """The training inputs and targets of the loader's task, built once from its sample ``inputs``
    (the model in the mode it trains in: its own first prediction is the target of the
    classification tasks). ``seed`` seeds the masked-LM mask, from a private generator."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return objective(loader).prepare(loader, model, inputs, generator)


def task_loss(loader: Any, outputs: Any, inputs: Any, targets: Any) -> Any:
    """The scalar loss of ``outputs`` (the model called on ``inputs``) against ``targets`` from
    :func:`prepare_batch`, in float32 whatever the model's dtype."""
    return objective(loader).loss(loader, outputs, inputs, targets)


class NonFiniteLossError(RuntimeError):
    """A training step's loss is NaN or infinite."""


def train(
    loader: Any,
    model: Any,
    inputs: Any,
    *,
    steps: int,
    lr: float,
    seed: int = 0,
    on_step: Callable[[int, float], None] | None = None,
) -> list[float]:
    """``steps`` optimizer steps on one batch in train mode; returns the loss of every step.

    The loss of step k is measured before its update, so ``losses[0]`` is the untrained model's.
    ``on_step(k, loss)`` is called after each forward. A NaN or infinite loss stops the loop with
    :class:`NonFiniteLossError` (after ``on_step`` has seen it).
    """
    import math

    import torch

    model.train()
    batch, targets = prepare_batch(loader, model, inputs, seed=seed)
    # AdamW, not SGD: its per-parameter step size makes one learning rate work for losses whose
    # gradient scales differ by orders of magnitude (cross entropy over 128k tokens, the square of
    # raw detection maps, a cosine loss), where SGD would need a rate per family to fall reliably.
    # No weight decay: the loss is the task's alone.
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    losses: list[float] = []
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = task_loss(loader, loader.call_model(model, batch), batch, targets)
        value = float(loss.detach())
        losses.append(value)
        if on_step is not None:
            on_step(step, value)
        if not math.isfinite(value):
            raise NonFiniteLossError(f"the loss is {value} at step {step} of {steps} (lr {lr:g}); try a lower lr")
        loss.backward()
        optimizer.step()
    return losses
