"""Encoder-decoder models: the first step, a decode step with a KV cache, and greedy generation,
for every encoder-decoder task base (T5's text-to-text, Whisper's speech recognition). A task base
on :class:`EncoderDecoderLoader` says only what is its own: how the encoder's inputs are made
(token ids and their mask, or log-mel features), the decoder's start ids (one
``decoder_start_token_id``, or Whisper's forced prompt), the tokens generation never picks, and
how ids read as text.

- **First step** (``load_inputs()``, ``mode="prefill"``): the encoder's inputs and
  ``decoder_input_ids``, the decoder's start ids in every row. The first step returns logits and
  the encoder's output only, no cache, which ``torch.export`` and golden comparisons can flatten:
  it says ``use_cache=False`` unless the shipped config already does (Whisper's, as upstream
  loads it).
- **Decode step** (``mode="decode"``): one new decoder token per row, ``encoder_outputs`` (the
  encoder is not run again) with the encoder's ``attention_mask`` where it has one, and the cache
  under the forward's keyword (``cache``; ``past_key_values`` before transformers renamed it): an
  ``EncoderDecoderCache`` of two ``DynamicCache``\\ s, the decoder's self-attention keys and values
  ``(batch, heads, past_len, head_dim)`` and the cross-attention ones over the encoder's positions
  ``(batch, heads, encoder_len, head_dim)``, per decoder layer. It says ``use_cache=True`` where
  the shipped config does not. Built without weights it holds seeded random values
  (:func:`synthetic_cache`); :meth:`EncoderDecoderLoader.load_decode_inputs` builds it the way
  generation does, from the model's own first step. A forward appends to the self-attention cache
  **in place**: build fresh decode inputs for every run that must see the same cache.
- **Generation** (:func:`greedy_generate`): the first step once (encoder and start ids), then one
  cached decoder step per token, the argmax of the last position's logits after those of the
  suppressed ids (every step) and of the begin-suppressed ids (the first generated token only)
  are set to -inf; it stops when every row has produced an end-of-sequence token.
  ``decode_output(outputs, model=model)`` returns the text per row (or token ids when no
  tokenizer can be had), cut at end-of-sequence.

Only the standard library and ``base`` are imported at module level.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Sequence

from ..base import ForgeModel

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch import nn

#: first-step keys the decoder still reads after the encoder has run (the encoder's padding mask)
ENCODER_SIDE = ("attention_mask",)


def first_step_inputs(encoder_inputs: dict[str, Any], start_ids: Sequence[int], **switches: Any) -> dict[str, Any]:
    """``encoder_inputs`` with ``decoder_input_ids`` ``(batch, len(start_ids))`` (every row the
    decoder's start ids), then ``switches`` (``use_cache=False``)."""
    import torch

    batch = next(iter(encoder_inputs.values())).shape[0]
    start = torch.tensor([list(start_ids)], dtype=torch.long).expand(batch, len(start_ids)).clone()
    return {**encoder_inputs, "decoder_input_ids": start, **switches}


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
    encoder_outputs: Any, next_tokens: "torch.Tensor", cache: Any, *, ask_for_cache: bool = False, **encoder_side: Any
) -> dict[str, Any]:
    """One new decoder token per row, the encoder's outputs (as the forward takes them: a tuple
    holding the last hidden state, or a ``BaseModelOutput``), ``cache`` and the encoder-side
    inputs the decoder still reads (``attention_mask``); ``use_cache=True`` with
    ``ask_for_cache`` (a model whose config says no cache)."""
    from .generation import cache_keyword

    batch = next_tokens.shape[0]
    step = {
        "decoder_input_ids": next_tokens.reshape(batch, 1).long(),
        "encoder_outputs": encoder_outputs,
        **{k: v for k, v in encoder_side.items() if v is not None},
        cache_keyword(): cache,
    }
    if ask_for_cache:
        step["use_cache"] = True
    return step


def _encoder_side(inputs: dict[str, Any]) -> dict[str, Any]:
    return {k: inputs[k] for k in ENCODER_SIDE if k in inputs}


def greedy_tokens(logits: "torch.Tensor", suppress_ids: Sequence[int] = ()) -> "torch.Tensor":
    """``(batch,)`` greedy tokens of the last position's logits, on the CPU, none of them one of
    ``suppress_ids`` (ids beyond the vocabulary are ignored)."""
    import torch

    scores = logits[:, -1].float()
    if suppress_ids:
        index = torch.tensor(sorted({i for i in suppress_ids if 0 <= i < scores.shape[-1]}), device=scores.device)
        scores = scores.index_fill(-1, index, float("-inf"))
    return scores.argmax(-1).cpu()


def as_tuple(hidden: "torch.Tensor") -> tuple["torch.Tensor"]:
    """The encoder's last hidden state as ``encoder_outputs``: a one-tuple (T5's decode steps)."""
    return (hidden,)


def decode_inputs_from_model(
    model: "nn.Module",
    first_step: dict[str, Any],
    *,
    suppress_ids: Sequence[int] = (),
    begin_suppress_ids: Sequence[int] = (),
    wrap: Callable[[Any], Any] = as_tuple,
) -> dict[str, Any]:
    """Run ``first_step`` through ``model`` with a cache and return the first decode step, as
    generation makes it: the greedy next token (none of ``suppress_ids`` or
    ``begin_suppress_ids``), the encoder's output (``wrap``\\ ped as the decode step carries it)
    and the cache the first step filled."""
    import torch

    from ..inputs.devices import move_to
    from .generation import _model_device, cache_keyword

    tensors = {k: v for k, v in first_step.items() if k != "use_cache"}
    with torch.no_grad():
        out = model(**move_to(tensors, _model_device(model)), use_cache=True)
    tokens = greedy_tokens(out.logits, [*suppress_ids, *begin_suppress_ids])
    return decode_step_inputs(
        wrap(out.encoder_last_hidden_state),
        tokens,
        getattr(out, cache_keyword()),
        ask_for_cache=not model.config.use_cache,
        **_encoder_side(tensors),
    )


def greedy_generate(
    model: "nn.Module",
    first_step: dict[str, Any],
    max_new_tokens: int,
    *,
    eos_ids: Sequence[int] = (),
    suppress_ids: Sequence[int] = (),
    begin_suppress_ids: Sequence[int] = (),
    wrap: Callable[[Any], Any] = as_tuple,
) -> "torch.Tensor":
    """``(batch, n)`` greedy tokens after the decoder's start ids: the first step (encoder and
    start ids) once, then one cached decoder step per token, until every row has produced one of
    ``eos_ids`` or ``max_new_tokens`` are made (``n <= max_new_tokens``; no ``eos_ids``: exactly
    ``max_new_tokens``). A finished row is filled with its end-of-sequence token; cut at it when
    decoding to text."""
    import torch

    from ..inputs.devices import move_to
    from ..validation import check_int
    from .generation import _model_device, cache_keyword

    max_new_tokens = check_int("max_new_tokens", max_new_tokens, minimum=1)
    device = _model_device(model)
    step = decode_inputs_from_model(
        model, first_step, suppress_ids=suppress_ids, begin_suppress_ids=begin_suppress_ids, wrap=wrap
    )
    tokens = step["decoder_input_ids"].reshape(-1)
    eos = torch.tensor(list(eos_ids), dtype=torch.long)
    done = torch.isin(tokens, eos)
    produced = [tokens]
    with torch.no_grad():
        while len(produced) < max_new_tokens and not bool(done.all()):
            out = model(**move_to({**step, "use_cache": True}, device))
            # a finished row keeps its end-of-sequence token
            tokens = torch.where(done, produced[-1], greedy_tokens(out.logits, suppress_ids))
            done |= torch.isin(tokens, eos)
            produced.append(tokens)
            step = decode_step_inputs(
                step["encoder_outputs"],
                tokens,
                getattr(out, cache_keyword()),
                ask_for_cache="use_cache" in step,
                **_encoder_side(step),
            )
    return torch.stack(produced, dim=-1)


class EncoderDecoderLoader(ForgeModel):
    """Base of the encoder-decoder loaders. A task base on it gives :meth:`_encoder_inputs` and,
    where they differ from the defaults, :meth:`_decoder_start_ids`, :meth:`_synthetic_encoder`,
    :meth:`_encoder_outputs`, :meth:`_suppress_ids`, :meth:`_begin_suppress_ids`,
    :meth:`_eos_ids`, :meth:`_tokenizer`, :meth:`_text` and :meth:`_generation_inputs`; this base
    gives the first and decode steps, generation and decoding.

    Random builds keep the init value transformers' own pass leaves where a parent module
    re-initialises its children's tensors (T5's attention and feed-forward blocks their Linears,
    Whisper's encoder its sinusoidal positions), each drawn once.
    """

    #: keywords of ``load_inputs`` that make the encoder's inputs (Whisper's ``audio``); every
    #: other keyword of a ``mode="decode"`` call is a config override
    ENCODER_OPTIONS: ClassVar[tuple[str, ...]] = ()

    def _build_source(self) -> Any:
        source = super()._build_source()
        source.last_init_write_wins = True
        return source

    @functools.cached_property
    def _shipped_config(self) -> Any:
        """The full shipped config, read once per loader (start and end ids, widths)."""
        return self.load_config()

    # ---- hooks ---------------------------------------------------------------------------------

    def _encoder_inputs(self, *, batch_size: int, **options: Any) -> dict[str, Any]:
        """The encoder's inputs for ``batch_size`` rows (``input_ids`` and ``attention_mask``, or
        ``input_features``), made with the :attr:`ENCODER_OPTIONS` given."""
        raise NotImplementedError(f"{type(self).__name__} must give its encoder's inputs")

    def _decoder_start_ids(self) -> list[int]:
        """The ids every decoded sequence starts with: the config's ``decoder_start_token_id``."""
        return [self._shipped_config.decoder_start_token_id]

    def _synthetic_encoder(self, config: Any, *, batch_size: int, **options: Any) -> tuple[int, dict[str, Any]]:
        """``(encoder positions, encoder-side inputs)`` of a decode step built without weights: a
        text encoder's are its inputs' length and their ``attention_mask``."""
        encoder = self._encoder_inputs(batch_size=batch_size, **options)
        return int(next(iter(encoder.values())).shape[1]), _encoder_side(encoder)

    def _encoder_outputs(self, hidden: "torch.Tensor") -> Any:
        """The encoder's last hidden state as a decode step's ``encoder_outputs``: a one-tuple."""
        return as_tuple(hidden)

    def _suppress_ids(self) -> Sequence[int]:
        """Ids generation never picks."""
        return ()

    def _begin_suppress_ids(self) -> Sequence[int]:
        """Ids generation does not pick first."""
        return ()

    def _eos_ids(self) -> list[int]:
        eos = self._shipped_config.eos_token_id
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]

    def _tokenizer(self, *, warn: bool = True) -> Any:
        """The tokenizer that turns generated ids into text, or None (``decode_output`` then
        returns ids)."""
        return None

    def _text(self, tokenizer: Any, ids: list[int]) -> str:
        """One row of generated ids as text."""
        return tokenizer.decode(ids, skip_special_tokens=True)

    def _generation_inputs(self, outputs: Any) -> dict[str, Any]:
        """The first step ``decode_output(model=...)`` generates from when given no ``inputs``:
        this loader's sample, as many rows as ``outputs`` has (one without)."""
        from ..validation import check_outputs

        batch = 1 if outputs is None else self.unpack_forward_output(check_outputs(outputs)).shape[0]
        return self.load_inputs(batch_size=batch)

    # ---- inputs --------------------------------------------------------------------------------

    def _load_inputs(
        self,
        *,
        batch_size: int,
        mode: str = "prefill",
        seq_len: int | None = None,
        num_layers: int | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """``mode="prefill"``: the first step (encoder inputs, the decoder's start ids, no cache).

        ``mode="decode"``: one decode step after ``seq_len`` decoder positions (default: the start
        ids, so the step generate makes second), with seeded random encoder output and cache (see
        the module notes). Pass the same ``num_layers`` and config overrides as to ``load_model``.
        """
        import torch

        from ..inputs import check_input_bytes
        from ..validation import check_int

        if mode not in ("prefill", "decode"):
            raise ValueError(f"unknown mode {mode!r}; accepted: 'prefill', 'decode'")
        options = {k: kwargs.pop(k) for k in self.ENCODER_OPTIONS if k in kwargs}
        overrides = kwargs
        start = self._decoder_start_ids()
        if mode == "prefill":
            given = [n for n, v in (("seq_len", seq_len), ("num_layers", num_layers)) if v is not None]
            if given or overrides:
                raise TypeError(
                    f"{', '.join(given + sorted(overrides))}: seq_len, num_layers and config overrides only "
                    "shape mode='decode' inputs"
                )
            encoder = self._encoder_inputs(batch_size=batch_size, **options)
            no_cache = {"use_cache": False} if self._shipped_config.use_cache else {}  # the config says so already
            return first_step_inputs(encoder, start, **no_cache)
        past = len(start) if seq_len is None else check_int("seq_len", seq_len, minimum=1)
        config = self.load_config(num_layers=num_layers, **overrides)
        encoder_len, encoder_side = self._synthetic_encoder(config, batch_size=batch_size, **options)
        width = decoder_geometry(config)[3]
        check_input_bytes(4 * batch_size * encoder_len * width, f"encoder outputs of batch {batch_size}")
        generator = torch.Generator().manual_seed(1)  # the cache draws from seed 0
        hidden = torch.randn(batch_size, encoder_len, width, generator=generator)
        cache = synthetic_cache(config, batch_size=batch_size, past_len=past, encoder_len=encoder_len)
        # The last start id again: a valid, deterministic token without running a model.
        tokens = torch.full((batch_size,), start[-1], dtype=torch.long)
        return decode_step_inputs(
            self._encoder_outputs(hidden), tokens, cache, ask_for_cache=not config.use_cache, **encoder_side
        )

    def load_decode_inputs(self, model: Any, *, dtype_override: Any = None, batch_size: int = 1) -> dict[str, Any]:
        """The first decode step as generation builds it: ``model`` runs the first step, and the
        decode step holds its greedy next token, its encoder output and the cache it filled (in
        the model's dtype). Needs the model, so it is not ``load_inputs``; a forward appends to
        the cache in place: call again for every run."""
        first = self.load_inputs(dtype_override=dtype_override, batch_size=batch_size)
        return decode_inputs_from_model(
            model,
            first,
            suppress_ids=self._suppress_ids(),
            begin_suppress_ids=self._begin_suppress_ids(),
            wrap=self._encoder_outputs,
        )

    # ---- outputs -------------------------------------------------------------------------------

    def generate(self, model: Any, inputs: Any, *, max_new_tokens: int | None = None) -> list[list[int]]:
        """Per row, the greedy tokens after the start ids (up to ``max_new_tokens``, default: the
        row's), cut at end-of-sequence."""
        from .generation import cut_at_eos

        steps = self._variant_config.inputs.max_new_tokens if max_new_tokens is None else max_new_tokens
        tokens = greedy_generate(
            model,
            inputs,
            steps,
            eos_ids=self._eos_ids(),
            suppress_ids=self._suppress_ids(),
            begin_suppress_ids=self._begin_suppress_ids(),
            wrap=self._encoder_outputs,
        )
        return [cut_at_eos(row, self._eos_ids()) for row in tokens.tolist()]

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

        With ``model``: greedy generation of up to ``max_new_tokens`` (default: the row's) with the
        KV cache from the first-step ``inputs`` (default: :meth:`_generation_inputs`), cut at
        end-of-sequence. Without: the argmax of ``outputs``' last decoder position, the one next
        token.
        """
        from ..validation import check_outputs
        from .generation import cut_at_eos

        if model is None and inputs is not None:
            raise TypeError(
                "decode_output generates with model= (and optionally inputs=); inputs= alone decodes nothing"
            )
        if model is not None:
            if inputs is None:
                inputs = self._generation_inputs(outputs)
            rows = self.generate(model, inputs, max_new_tokens=max_new_tokens)
        else:
            logits = self.unpack_forward_output(check_outputs(outputs))
            if logits.dim() != 3:
                raise ValueError(
                    f"outputs must hold decoder logits (batch, positions, vocabulary), got shape {tuple(logits.shape)}"
                )
            rows = [cut_at_eos(row, self._eos_ids()) for row in logits[:, -1].argmax(-1, keepdim=True).tolist()]
        tokenizer = self._tokenizer(warn=False)
        if tokenizer is None:
            return rows
        return [self._text(tokenizer, row) for row in rows]


__all__ = [
    "ENCODER_SIDE",
    "EncoderDecoderLoader",
    "as_tuple",
    "decode_inputs_from_model",
    "decode_step_inputs",
    "decoder_geometry",
    "first_step_inputs",
    "greedy_generate",
    "greedy_tokens",
    "synthetic_cache",
]
