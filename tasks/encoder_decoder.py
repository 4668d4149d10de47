"""Encoder-decoder models (T5; the shape Whisper's speech recognition shares): the first step, a
decode step with a KV cache, and greedy generation, for every encoder-decoder task base.

- **First step** (``load_inputs()``, ``mode="prefill"``): the encoder's inputs (a subclass's
  :meth:`EncoderDecoderLoader._encoder_inputs`: token ids and their mask, or audio features) and
  ``decoder_input_ids``, the decoder's start ids (one ``decoder_start_token_id`` per row unless
  the subclass names a longer prompt), with ``use_cache=False`` so the forward returns logits
  and the encoder's output only, which ``torch.export`` and golden comparisons can flatten.
- **Decode step** (``mode="decode"``, upstream's ``load_inputs_decode``): one new decoder token
  per row, ``encoder_outputs`` (the encoder is not run again) with the encoder's
  ``attention_mask`` where it has one, and the cache under the forward's keyword (``cache``;
  ``past_key_values`` before transformers renamed it): an ``EncoderDecoderCache`` of two
  ``DynamicCache``\\ s, the decoder's self-attention keys and values ``(batch, heads, past_len,
  head_dim)`` and the cross-attention ones over the encoder's positions ``(batch, heads,
  encoder_len, head_dim)``, per decoder layer. Built without weights it holds seeded random values
  (:func:`synthetic_cache`); :meth:`EncoderDecoderLoader.load_decode_inputs` builds it the way
  generation does, from the model's own first step. A forward appends to the self-attention
  cache **in place**: build fresh decode inputs for every run that must see the same cache.
- **Generation** (:func:`greedy_generate`): the first step, then one cached step per token;
  ``decode_output(outputs, model=model)`` returns the text per row (or token ids when no
  tokenizer can be had), cut at end-of-sequence.

Only the standard library and ``base`` are imported at module level.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Sequence

from ..base import ForgeModel

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

#: first-step keys the decoder still reads after the encoder has run (the encoder's padding mask)
ENCODER_SIDE = ("attention_mask",)


def first_step_inputs(encoder_inputs: dict[str, Any], start_ids: Sequence[int]) -> dict[str, Any]:
    """``encoder_inputs`` with ``decoder_input_ids`` ``(batch, len(start_ids))`` (every row the
    decoder's start ids) and ``use_cache=False``."""
    import torch

    batch = next(iter(encoder_inputs.values())).shape[0]
    start = torch.tensor([list(start_ids)], dtype=torch.long).expand(batch, len(start_ids)).clone()
    return {**encoder_inputs, "decoder_input_ids": start, "use_cache": False}


def decoder_geometry(config: Any) -> tuple[int, int, int, int]:
    """``(decoder layers, attention heads, head size, model width)`` of an encoder-decoder config,
    whichever names it uses: T5's ``num_decoder_layers``/``num_heads``/``d_kv``/``d_model``,
    BART's and Whisper's ``decoder_layers``/``decoder_attention_heads``/``d_model``."""

    def first(*names: str) -> Any:
        return next((getattr(config, n) for n in names if getattr(config, n, None) is not None), None)

    layers = first("num_decoder_layers", "decoder_layers", "num_hidden_layers")
    heads = first("decoder_attention_heads", "num_heads", "num_attention_heads")
    width = first("d_model", "hidden_size")
    head_dim = first("d_kv", "head_dim") or width // heads
    return layers, heads, head_dim, width


def synthetic_cache(config: Any, *, batch_size: int, past_len: int, encoder_len: int, seed: int = 0) -> Any:
    """An ``EncoderDecoderCache`` of ``config``'s decoder filled with seeded N(0, 1) values: the
    self-attention cache of ``past_len`` decoder positions and the cross-attention cache of
    ``encoder_len`` encoder positions, in every decoder layer."""
    from transformers import DynamicCache, EncoderDecoderCache

    from .generation import random_kv

    layers, heads, head_dim, _ = decoder_geometry(config)
    own = [(batch_size, heads, past_len, head_dim)] * layers
    cross = [(batch_size, heads, encoder_len, head_dim)] * layers
    kv = random_kv(own + cross, seed=seed)
    return EncoderDecoderCache(DynamicCache(ddp_cache_data=kv[:layers]), DynamicCache(ddp_cache_data=kv[layers:]))


def decode_step_inputs(
    encoder_hidden: "torch.Tensor", next_tokens: "torch.Tensor", cache: Any, **encoder_side: Any
) -> dict[str, Any]:
    """One new decoder token per row, the encoder's output, ``cache`` and the encoder-side inputs
    the decoder still reads (``attention_mask``)."""
    from .generation import cache_keyword

    batch = encoder_hidden.shape[0]
    return {
        "decoder_input_ids": next_tokens.reshape(batch, 1).long(),
        "encoder_outputs": (encoder_hidden,),
        **{k: v for k, v in encoder_side.items() if v is not None},
        cache_keyword(): cache,
    }


def _encoder_side(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: inputs[k] for k in ENCODER_SIDE if k in inputs}


def decode_inputs_from_model(model: "nn.Module", first_step: dict[str, Any]) -> dict[str, Any]:
    """Run ``first_step`` through ``model`` and return the first decode step, as ``generate`` would:
    the greedy next token, the encoder's output and the cache the first step filled."""
    import torch

    from ..inputs.devices import move_to
    from .generation import _model_device, cache_keyword

    tensors = {k: v for k, v in first_step.items() if k != "use_cache"}
    with torch.no_grad():
        out = model(**move_to(tensors, _model_device(model)), use_cache=True)
    next_tokens = out.logits[:, -1].argmax(-1).cpu()
    return decode_step_inputs(
        out.encoder_last_hidden_state, next_tokens, getattr(out, cache_keyword()), **_encoder_side(tensors)
    )


def greedy_generate(model: "nn.Module", first_step: dict[str, Any], max_new_tokens: int) -> "torch.Tensor":
    """``(batch, max_new_tokens)`` greedy tokens after the decoder's start ids: the first step
    (encoder and start ids), then one cached decoder step per token, the encoder run once.

    Exactly ``max_new_tokens`` are produced (no early stop); cut at end-of-sequence when decoding.
    """
    import torch

    from ..inputs.devices import move_to
    from ..validation import check_int
    from .generation import _model_device, cache_keyword

    max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=1)
    device = _model_device(model)
    tokens = []
    with torch.no_grad():
        step = decode_inputs_from_model(model, first_step)
        for _ in range(max_new_tokens):
            tokens.append(step["decoder_input_ids"].cpu())
            if len(tokens) == max_new_tokens:
                break
            out = model(**move_to(step, device), use_cache=True)
            next_tokens = out.logits[:, -1].argmax(-1).cpu()
            side = {k: step[k] for k in ENCODER_SIDE if k in step}
            step = decode_step_inputs(step["encoder_outputs"][0], next_tokens, getattr(out, cache_keyword()), **side)
    return torch.cat(tokens, dim=-1)


class EncoderDecoderLoader(ForgeModel):
    """Base of the encoder-decoder loaders. A task base on it gives :meth:`_encoder_inputs` (and,
    where they differ from the config's, :meth:`_decoder_start_ids`, :meth:`_encoder_length` and
    :meth:`_tokenizer`); this base gives the first and decode steps, generation and decoding.

    Random builds keep the init value transformers' own pass leaves where a parent module
    re-initialises its children's tensors (T5's attention and feed-forward blocks their Linears,
    Whisper's encoder its sinusoidal positions), each drawn once.
    """

    def _build_source(self) -> Any:
        source = super()._build_source()
        source.last_init_write_wins = True
        return source

    @functools.cached_property
    def _shipped_config(self) -> Any:
        """The full shipped config, read once per loader (start and end ids, widths)."""
        return self.load_config()

    # ---- hooks ---------------------------------------------------------------------------------

    def _encoder_inputs(self, *, batch_size: int) -> dict[str, Any]:
        """The encoder's inputs for ``batch_size`` rows (``input_ids`` and ``attention_mask``, or
        ``input_features``)."""
        raise NotImplementedError(f"{type(self).__name__} must give its encoder's inputs")

    def _decoder_start_ids(self) -> list[int]:
        """The ids every decoded sequence starts with: the config's ``decoder_start_token_id``."""
        return [self._shipped_config.decoder_start_token_id]

    def _encoder_length(self, encoder_inputs: dict[str, Any]) -> int:
        """How many positions the encoder's output has: its inputs' length (a text encoder's);
        a subsampling encoder (Whisper's convolutions) says otherwise."""
        return int(next(iter(encoder_inputs.values())).shape[1])

    def _tokenizer(self, *, warn: bool = True) -> Any:
        """The tokenizer that turns generated ids into text, or None (``decode_output`` then
        returns ids)."""
        return None

    def _eos_ids(self) -> list[int]:
        eos = self._shipped_config.eos_token_id
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]

    # ---- inputs --------------------------------------------------------------------------------

    def _load_inputs(
        self,
        *,
        batch_size: int,
        mode: str = "prefill",
        seq_len: int | None = None,
        num_layers: int | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """``mode="prefill"``: the first step (encoder inputs, the decoder's start ids,
        ``use_cache=False``).

        ``mode="decode"``: one decode step after ``seq_len`` decoder positions (default: the start
        ids, so the step generate makes second), with seeded random encoder output and cache (see
        the module notes). Pass the same ``num_layers`` and config overrides as to ``load_model``.
        """
        import torch

        from ..inputs import check_input_bytes
        from ..validation import check_int

        if mode not in ("prefill", "decode"):
            raise ValueError(f"unknown mode {mode!r}; accepted: 'prefill', 'decode'")
        encoder = self._encoder_inputs(batch_size=batch_size)
        start = self._decoder_start_ids()
        if mode == "prefill":
            given = [n for n, v in (("seq_len", seq_len), ("num_layers", num_layers)) if v is not None]
            if given or overrides:
                raise TypeError(
                    f"{', '.join(given + sorted(overrides))}: seq_len, num_layers and config overrides only "
                    "shape mode='decode' inputs"
                )
            return first_step_inputs(encoder, start)
        past = len(start) if seq_len is None else check_int("seq_len", seq_len, minimum=1)
        config = self.load_config(num_layers=num_layers, **overrides)
        encoder_len = self._encoder_length(encoder)
        width = decoder_geometry(config)[3]
        check_input_bytes(4 * batch_size * encoder_len * width, f"encoder outputs of batch {batch_size}")
        generator = torch.Generator().manual_seed(1)  # the cache draws from seed 0
        hidden = torch.randn(batch_size, encoder_len, width, generator=generator)
        cache = synthetic_cache(config, batch_size=batch_size, past_len=past, encoder_len=encoder_len)
        # The last start id again: a valid, deterministic token without running a model.
        next_tokens = torch.full((batch_size,), start[-1], dtype=torch.long)
        return decode_step_inputs(hidden, next_tokens, cache, **_encoder_side(encoder))

    def load_inputs_decode(self, dtype_override: Any = None, batch_size: int = 1, **kwargs: Any) -> dict[str, Any]:
        """Upstream's name for the decode step: ``load_inputs(mode="decode", ...)``, a new token per
        row, the encoder's output and a KV cache of the full depth (``num_layers=`` to match a cut
        model)."""
        return self.load_inputs(dtype_override=dtype_override, batch_size=batch_size, mode="decode", **kwargs)

    def load_decode_inputs(self, model: Any, *, dtype_override: Any = None, batch_size: int = 1) -> dict[str, Any]:
        """The first decode step as generation builds it: ``model`` runs the first step, and the
        decode step holds its greedy next token, its encoder output and the cache it filled.
        A forward appends to the cache in place: call again for every run."""
        first = self.load_inputs(dtype_override=dtype_override, batch_size=batch_size)
        return decode_inputs_from_model(model, first)

    # ---- outputs -------------------------------------------------------------------------------

    def decode_output(
        self,
        outputs: Any = None,
        *,
        model: Any = None,
        inputs: Any = None,
        max_new_tokens: int | None = None,
        **kwargs: Any,
    ) -> list[str] | list[list[int]]:
        """Per row, text (or token ids when no tokenizer can be had).

        With ``model``: greedy generation of ``max_new_tokens`` (default: the row's) with the KV
        cache from the first-step ``inputs`` (default: this loader's sample, as many rows as
        ``outputs`` has), cut at end-of-sequence. Without: the argmax of ``outputs``' last
        decoder position, the one next token.
        """
        from ..validation import check_outputs
        from .generation import cut_at_eos

        if model is None and inputs is not None:
            raise TypeError(
                "decode_output generates with model= (and optionally inputs=); inputs= alone decodes nothing"
            )
        if model is not None:
            if inputs is None:
                batch = 1 if outputs is None else self.unpack_forward_output(check_outputs(outputs)).shape[0]
                inputs = self.load_inputs(batch_size=batch)
            steps = self._variant_config.inputs.max_new_tokens if max_new_tokens is None else max_new_tokens
            new = greedy_generate(model, inputs, steps)
        else:
            logits = self.unpack_forward_output(check_outputs(outputs))
            if logits.dim() != 3:
                raise ValueError(
                    f"outputs must hold decoder logits (batch, positions, vocabulary), got shape {tuple(logits.shape)}"
                )
            new = logits[:, -1].argmax(-1, keepdim=True)
        rows = [cut_at_eos(row, self._eos_ids()) for row in new.tolist()]
        tokenizer = self._tokenizer(warn=False)
        if tokenizer is None:
            return rows
        return [tokenizer.decode(row, skip_special_tokens=True) for row in rows]


__all__ = [
    "ENCODER_SIDE",
    "EncoderDecoderLoader",
    "decode_inputs_from_model",
    "decode_step_inputs",
    "decoder_geometry",
    "first_step_inputs",
    "greedy_generate",
    "synthetic_cache",
]
