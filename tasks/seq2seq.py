"""Encoder-decoder models: the first decoder step, a decode step with a KV cache, and greedy
generation, shared by the task bases of sequence-to-sequence families (speech recognition today;
translation and summarization can use the same pieces).

Inputs of the first step are a dict: the encoder's own inputs (``input_features`` for Whisper,
``input_ids`` and ``attention_mask`` for a text encoder) beside ``decoder_input_ids``, the decoder's
prefix. Every key that does not start with ``decoder_`` goes to the encoder; an ``attention_mask``
is passed to every decoder step too (cross-attention over padded text).

A decode step is what generation feeds the model after the first step: the ``encoder_outputs``
(computed once), one new token per row as ``decoder_input_ids``, and an ``EncoderDecoderCache``
holding the self-attention keys and values of every earlier decoder position and the
cross-attention ones of the encoder output. A forward **appends to the cache in place**, so build
fresh decode inputs for every run that must see the same cache.

Greedy generation takes the argmax of the last position's logits at every step, after the logits
of ``suppress_ids`` (every step) and ``begin_suppress_ids`` (the first generated token only) are
set to -inf, as Whisper decodes; it stops when every row has produced an end-of-sequence token.

Only the standard library is imported at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

DECODER_PREFIX = "decoder_"


def encoder_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The tensors of a first-step input dict that the encoder takes: every key not starting
    with ``decoder_``, less the switches (``use_cache``)."""
    import torch

    return {k: v for k, v in inputs.items() if not k.startswith(DECODER_PREFIX) and isinstance(v, torch.Tensor)}


def _cross_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What every decoder step needs of the encoder side besides its outputs: the encoder's
    attention mask, where it has one."""
    return {"attention_mask": inputs["attention_mask"]} if "attention_mask" in inputs else {}


def synthetic_cache(
    *,
    batch_size: int,
    layers: int,
    heads: int,
    head_dim: int,
    past_len: int,
    encoder_len: int,
    seed: int = 0,
) -> Any:
    """An ``EncoderDecoderCache`` of seeded N(0, 1) keys and values: ``(batch, heads, past_len,
    head_dim)`` self-attention and ``(batch, heads, encoder_len, head_dim)`` cross-attention tensors
    for each of ``layers`` decoder layers. For compiling and comparing the decode graph without
    weights; :func:`first_decode_step` gives the values a model produces."""
    import torch
    from transformers import DynamicCache, EncoderDecoderCache

    from ..inputs import check_input_bytes

    own, cross = (batch_size, heads, past_len, head_dim), (batch_size, heads, encoder_len, head_dim)
    check_input_bytes(layers * 2 * 4 * batch_size * heads * head_dim * (past_len + encoder_len), "a KV cache")
    generator = torch.Generator().manual_seed(seed)

    def pair(shape: tuple[int, ...]) -> tuple[Any, Any]:
        return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)

    self_layers = [pair(own) for _ in range(layers)]
    cross_layers = [pair(cross) for _ in range(layers)]
    return EncoderDecoderCache(DynamicCache(ddp_cache_data=self_layers), DynamicCache(ddp_cache_data=cross_layers))


def decode_step_inputs(encoder_outputs: Any, next_tokens: "torch.Tensor", cache: Any, **cross: Any) -> dict[str, Any]:
    """One new token per row after the positions ``cache`` holds, with the encoder's outputs."""
    from .generation import cache_keyword

    batch = next_tokens.shape[0]
    return {
        "encoder_outputs": encoder_outputs,
        **cross,
        "decoder_input_ids": next_tokens.reshape(batch, 1).long(),
        cache_keyword(): cache,
        "use_cache": True,
    }


def _device(model: "nn.Module") -> Any:
    return next(model.parameters()).device


def encode(model: "nn.Module", inputs: Mapping[str, Any]) -> Any:
    """The encoder's outputs for a first-step input dict (no gradients)."""
    import torch

    from ..inputs.devices import move_to

    with torch.no_grad():
        return model.get_encoder()(**move_to(encoder_inputs(inputs), _device(model)))


def _next_tokens(logits: "torch.Tensor", suppress: Sequence[int]) -> "torch.Tensor":
    import torch

    scores = logits[:, -1].float()
    if suppress:
        index = torch.tensor(sorted({i for i in suppress if 0 <= i < scores.shape[-1]}), device=scores.device)
        scores = scores.index_fill(-1, index, float("-inf"))
    return scores.argmax(-1).cpu()


def first_decode_step(
    model: "nn.Module",
    inputs: Mapping[str, Any],
    *,
    suppress_ids: Sequence[int] = (),
    begin_suppress_ids: Sequence[int] = (),
) -> dict[str, Any]:
    """Run the first step (encoder, then the decoder over its prefix with a cache) and return the
    first decode step, as generation builds it: the greedy next token and the cache it filled."""
    import torch

    from ..inputs.devices import move_to
    from .generation import cache_keyword

    encoded = encode(model, inputs)
    cross = move_to(_cross_inputs(inputs), _device(model))
    with torch.no_grad():
        out = model(
            encoder_outputs=encoded,
            decoder_input_ids=inputs["decoder_input_ids"].to(_device(model)),
            use_cache=True,
            **cross,
        )
    tokens = _next_tokens(out.logits, [*suppress_ids, *begin_suppress_ids])
    return decode_step_inputs(encoded, tokens, getattr(out, cache_keyword()), **cross)


def greedy_generate(
    model: "nn.Module",
    inputs: Mapping[str, Any],
    max_new_tokens: int,
    *,
    eos_ids: Sequence[int],
    suppress_ids: Sequence[int] = (),
    begin_suppress_ids: Sequence[int] = (),
) -> "torch.Tensor":
    """``(batch, n)`` greedy tokens after the prefix ``inputs["decoder_input_ids"]``: the encoder
    once, the prefix once, then one cached step per token, until every row has produced one of
    ``eos_ids`` or ``max_new_tokens`` are made (``n <= max_new_tokens``). A finished row is filled
    with its end-of-sequence token; cut at it when decoding to text."""
    import torch

    from ..inputs.devices import move_to
    from ..validation import check_int
    from .generation import cache_keyword

    max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=1)
    device = _device(model)
    step = first_decode_step(model, inputs, suppress_ids=suppress_ids, begin_suppress_ids=begin_suppress_ids)
    tokens = step["decoder_input_ids"].reshape(-1)
    eos = torch.tensor(list(eos_ids), dtype=torch.long)
    done = torch.isin(tokens, eos)
    produced = [tokens]
    with torch.no_grad():
        while len(produced) < max_new_tokens and not bool(done.all()):
            out = model(**move_to(step, device))
            tokens = _next_tokens(out.logits, suppress_ids)
            tokens = torch.where(done, produced[-1], tokens)  # a finished row keeps its end token
            done |= torch.isin(tokens, eos)
            produced.append(tokens)
            cross = {k: v for k, v in step.items() if k == "attention_mask"}
            step = decode_step_inputs(step["encoder_outputs"], tokens, getattr(out, cache_keyword()), **cross)
    return torch.stack(produced, dim=-1)


__all__ = [
    "decode_step_inputs",
    "encode",
    "encoder_inputs",
    "first_decode_step",
    "greedy_generate",
    "synthetic_cache",
]
