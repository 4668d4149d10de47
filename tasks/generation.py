"""Decoder-only language models: prefill inputs, decode-step inputs with a KV cache, and greedy
generation, shared by every causal-LM loader.

Batches are **left-padded**, as batched generation with a decoder-only model needs: every row's
last position is a real token, so the next token is read from ``logits[:, -1]`` for the whole
batch, and new tokens are appended right after the prompt. ``position_ids`` count real tokens
only (padding gets position 1, as transformers' ``generate`` does), so a padded row computes the
same values as the unpadded prompt.

Prefill inputs carry ``use_cache=False``: the prefill graph returns logits only, which
``torch.export`` and golden comparisons can flatten (a ``DynamicCache`` output is no pytree). The
helpers here that need the prefill's cache ask for it themselves.

A decode step is one new token per row plus the cache of everything before it, exactly what
``generate`` feeds the model after the prefill. The cache is a transformers ``DynamicCache`` of
``(batch, kv_heads, past_len, head_dim)`` keys and values per layer; a forward **appends to it in
place**, so build fresh decode inputs for every run that must see the same cache.

State-space models (Mamba: every layer's cache is a convolution state and a recurrent SSM state,
transformers' linear-attention cache layers, see :func:`is_state_space`) have no positions and
attend to no past: their prefill has no ``position_ids``, and a decode step is the new token and
the states (a fixed size, whatever the prefill's length), with no mask, as ``generate`` feeds
them. A forward updates the states in place too.

Only the standard library is imported at module level.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

PADDING_SIDE = "left"


def pad_token_id(config: Any) -> int:
    """The config's pad token, else its (first) end-of-sequence token: Llama has no pad token,
    and padded positions are masked anyway."""
    if getattr(config, "pad_token_id", None) is not None:
        return config.pad_token_id
    eos = config.eos_token_id
    return eos[0] if isinstance(eos, (list, tuple)) else eos


def prompt_token_ids(tokenizer: Any | None, config: Any, prompt: str) -> list[int]:
    """The prompt's ids, BOS first: from ``tokenizer``, or synthetic when it is None.

    Synthetic ids hash each word or punctuation mark (:func:`..inputs.text.synthetic_ids`) into
    the ordinary ids, which lie between the special tokens at the bottom of the vocabulary
    (TinyLlama's 0-2) and those at the top (Llama 3's 128000 and up), so none is a control token.
    """
    bos = config.bos_token_id
    if tokenizer is not None:
        ids = list(tokenizer(prompt)["input_ids"])
        return ids if ids and ids[0] == bos else [bos] + ids
    from ..inputs.text import pieces, synthetic_ids

    eos = config.eos_token_id
    specials = {bos, pad_token_id(config), *(eos if isinstance(eos, (list, tuple)) else [eos])}
    vocab = config.vocab_size
    low = max((s + 1 for s in specials if s < vocab // 2), default=0)
    high = min((s for s in specials if s >= vocab // 2), default=vocab)
    out = synthetic_ids(
        [prompt],
        max_length=len(pieces(prompt)) + 1,
        vocab_size=high,
        low=low,
        pad_id=pad_token_id(config),
        cls_id=bos,
        token_type_ids=False,
    )
    return out["input_ids"][0].tolist()


def position_ids_from_mask(attention_mask: "torch.Tensor") -> "torch.Tensor":
    """Positions that count real tokens only; padding gets 1 (any valid index; it is masked)."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 1)


def prefill_inputs(
    token_ids: Sequence[int], *, batch_size: int, seq_len: int, pad_id: int, positions: bool = True
) -> dict[str, Any]:
    """``input_ids``, ``attention_mask`` and (with ``positions``) ``position_ids`` of shape
    ``(batch_size, seq_len)``, and ``use_cache=False``.

    The prompt is left-padded with ``pad_id`` to ``seq_len``, or cut to its first ``seq_len``
    tokens (keeping the BOS token) when longer. Every row is the same prompt. A state-space model
    has no positions (``positions=False``).
    """
    import torch

    from ..inputs import check_input_bytes
    from ..validation import check_int

    seq_len = check_int("seq_len", seq_len, minimum=1)
    # Three int64 tensors (ids, mask, positions) plus the expand-and-clone copies on the way.
    check_input_bytes(4 * 8 * batch_size * seq_len, f"prefill inputs of batch {batch_size} x seq_len {seq_len}")
    ids = list(token_ids)[:seq_len]
    pad = seq_len - len(ids)
    row = torch.tensor([pad_id] * pad + ids, dtype=torch.long)
    mask = torch.cat([torch.zeros(pad, dtype=torch.long), torch.ones(len(ids), dtype=torch.long)])
    input_ids = row.expand(batch_size, seq_len).clone()
    attention_mask = mask.expand(batch_size, seq_len).clone()
    out = {"input_ids": input_ids, "attention_mask": attention_mask}
    if positions:
        out["position_ids"] = position_ids_from_mask(attention_mask)
    return {**out, "use_cache": False}


def _tensors_only(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in inputs.items() if k in ("input_ids", "attention_mask", "position_ids")}


def is_state_space(config: Any) -> bool:
    """Whether every layer of ``config``'s model caches a fixed-size state (transformers'
    linear-attention cache layers: Mamba's convolution and SSM states) rather than keys and values.
    Read from the cache transformers itself builds for the config, so it follows the installed
    version's layer types."""
    from transformers import DynamicCache

    return _all_states(DynamicCache(config=config))


def _all_states(cache: Any) -> bool:
    kinds = getattr(cache, "is_linear", None)
    return bool(kinds) and all(kinds)


def cache_shapes(config: Any, *, batch_size: int, past_len: int) -> list[tuple[int, int, int, int]]:
    """``(batch, kv_heads, past_len, head_dim)`` for every decoder layer of ``config``."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return [(batch_size, kv_heads, past_len, head_dim)] * config.num_hidden_layers


def state_shapes(meta_model: "nn.Module", *, batch_size: int) -> list[dict[str, list[tuple[int, ...] | None]]]:
    """Per layer, the shapes of its ``"conv"`` and ``"recurrent"`` states (one per state index,
    ``None`` for one the layer does not keep), read from one token run through ``meta_model`` (the
    model built on the meta device: no weights, no arithmetic), so they are the model's own."""
    import torch

    ids = torch.zeros(batch_size, 1, dtype=torch.long, device="meta")
    with torch.no_grad():
        cache = getattr(meta_model(input_ids=ids, use_cache=True), cache_keyword())
    out = []
    for layer in cache.layers:
        shapes = {}
        for kind, attr in (("conv", "conv_states"), ("recurrent", "recurrent_states")):
            states = getattr(layer, attr, None) or {}
            shapes[kind] = [None if states[i] is None else tuple(states[i].shape) for i in sorted(states)]
        out.append(shapes)
    return out


def synthetic_state_cache(config: Any, meta_model: "nn.Module", *, batch_size: int, seed: int = 0) -> Any:
    """A ``DynamicCache`` of ``config``'s state-space layers with seeded N(0, 1) convolution and
    recurrent states, shaped as ``meta_model`` (built on the meta device) fills them: the cache a
    decode step after some prefill holds, without weights. See :func:`state_shapes`."""
    import torch
    from transformers import DynamicCache

    from ..inputs import check_input_bytes

    shapes = state_shapes(meta_model, batch_size=batch_size)
    sizes = [s for layer in shapes for kind in layer.values() for s in kind if s is not None]
    check_input_bytes(sum(4 * _numel(s) for s in sizes), f"the states of {len(shapes)} state-space layers")
    generator = torch.Generator().manual_seed(seed)
    cache = DynamicCache(config=config)
    for index, layer in enumerate(shapes):
        for state, shape in enumerate(layer["conv"]):
            if shape is not None:
                conv = torch.randn(shape, generator=generator)
                cache.update_conv_state(conv, index, state_idx=state, conv_kernel_size=shape[-1])
        for state, shape in enumerate(layer["recurrent"]):
            if shape is not None:
                cache.update_recurrent_state(torch.randn(shape, generator=generator), index, state_idx=state)
    return cache


def _numel(shape: Sequence[int]) -> int:
    n = 1
    for side in shape:
        n *= side
    return n


def synthetic_cache(config: Any, *, batch_size: int, past_len: int, seed: int = 0) -> Any:
    """A ``DynamicCache`` of the right shapes filled with seeded N(0, 1) keys and values.

    For compiling and comparing the decode graph without weights; values a model would produce
    come from :func:`decode_inputs_from_model`.
    """
    from transformers import DynamicCache

    shapes = cache_shapes(config, batch_size=batch_size, past_len=past_len)
    return DynamicCache(ddp_cache_data=random_kv(shapes, seed=seed), config=config)


def random_kv(shapes: Sequence[tuple[int, ...]], *, seed: int = 0) -> list[tuple["torch.Tensor", "torch.Tensor"]]:
    """One ``(keys, values)`` pair of seeded N(0, 1) tensors per shape, drawn in order from one
    private generator (the global RNG is left alone), after the input-size guard has agreed."""
    import torch

    from ..inputs import check_input_bytes

    nbytes = sum(2 * 4 * math.prod(shape) for shape in shapes)
    check_input_bytes(nbytes, f"a KV cache of {len(shapes)} layers")
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)) for shape in shapes]


@lru_cache(maxsize=None)
def cache_keyword() -> str:
    """The forward's name for the KV cache: ``cache`` in the transformers releases that renamed
    ``past_key_values`` (which then warns, and goes in 5.40), else ``past_key_values``. Read from
    transformers' own output class, so decode inputs follow the installed version."""
    import dataclasses

    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in {f.name for f in dataclasses.fields(CausalLMOutputWithPast)} else "past_key_values"


def decode_step_inputs(prefill: dict[str, "torch.Tensor"], next_tokens: "torch.Tensor", cache: Any) -> dict[str, Any]:
    """One new token per row after ``prefill``, with ``cache`` holding the prefill's keys and values
    (the mask and positions one longer), or a state-space model's states (the token and the states
    only: see the module docstring)."""
    import torch

    mask = prefill["attention_mask"]
    batch = mask.shape[0]
    input_ids = next_tokens.reshape(batch, 1).long()
    if _all_states(cache):
        return {"input_ids": input_ids, cache_keyword(): cache}
    attention_mask = torch.cat([mask, torch.ones(batch, 1, dtype=mask.dtype)], dim=-1)
    return {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "position_ids": mask.long().sum(-1, keepdim=True),
        cache_keyword(): cache,
    }


def _model_device(model: "nn.Module") -> Any:
    return next(model.parameters()).device


def decode_inputs_from_model(model: "nn.Module", prefill: dict[str, "torch.Tensor"]) -> dict[str, Any]:
    """Run the prefill through ``model`` and return the first decode step, as ``generate`` would:
    the greedy next token and the cache the prefill filled."""
    import torch

    from ..inputs.devices import move_to

    prefill = _tensors_only(prefill)
    with torch.no_grad():
        out = model(**move_to(prefill, _model_device(model)), use_cache=True)
    next_tokens = out.logits[:, -1].argmax(-1).cpu()
    return decode_step_inputs(prefill, next_tokens, getattr(out, cache_keyword()))


def greedy_generate(model: "nn.Module", prefill: dict[str, "torch.Tensor"], max_new_tokens: int) -> "torch.Tensor":
    """``(batch, max_new_tokens)`` greedy tokens: one prefill, then one cached step per token.

    Exactly ``max_new_tokens`` are produced (no early stop), so every row has the same length;
    cut at the end-of-sequence token when decoding to text.
    """
    import torch

    from ..inputs.devices import move_to
    from ..validation import check_int

    max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=1)
    device = _model_device(model)
    prefill = {k: v.cpu() for k, v in _tensors_only(prefill).items()}
    mask = prefill["attention_mask"]
    tokens = []
    with torch.no_grad():
        step = decode_inputs_from_model(model, prefill)
        for _ in range(max_new_tokens):
            tokens.append(step["input_ids"])
            if len(tokens) == max_new_tokens:
                break
            out = model(**move_to(step, device), use_cache=True)
            next_tokens = out.logits[:, -1].argmax(-1).cpu()
            mask = torch.cat([mask, torch.ones(mask.shape[0], 1, dtype=mask.dtype)], dim=-1)
            step = decode_step_inputs({"attention_mask": mask}, next_tokens, getattr(out, cache_keyword()))
    return torch.cat(tokens, dim=-1)


def cut_at_eos(ids: Sequence[int], eos_ids: Sequence[int]) -> list[int]:
    """``ids`` up to (not including) the first end-of-sequence token."""
    out = []
    for token in ids:
        if token in eos_ids:
            break
        out.append(int(token))
    return out


__all__ = [
    "PADDING_SIDE",
    "pad_token_id",
    "prompt_token_ids",
    "cache_keyword",
    "random_kv",
    "cache_shapes",
    "cut_at_eos",
    "decode_inputs_from_model",
    "decode_step_inputs",
    "greedy_generate",
    "is_state_space",
    "position_ids_from_mask",
    "prefill_inputs",
    "state_shapes",
    "synthetic_cache",
    "synthetic_state_cache",
]
