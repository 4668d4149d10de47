"""Causal language models: the task base every decoder-only family's loader builds on.

A family's loader is its variant table (rows made by :func:`causal_lm_row`: hub weights with their
shipped config and ``model_class``, the prompt, ``max_length``) and, where it supports tensor parallelism,
the names of its column- and row-parallel Linears (``TENSOR_PARALLEL``). This base gives:

- inputs: the row's prompt, tokenized (or synthetic ids when no verified tokenizer can be had),
  left-padded to ``max_length`` or ``seq_len=`` (see :mod:`..generation`); ``mode="decode"`` (and
  upstream's ``load_inputs_decode``) for one decode step with a KV cache, without weights; a
  state-space model (Mamba) gets no positions, and its decode step carries its convolution and SSM
  states instead of keys and values;
- ``decode_output``: the next token, or greedy generation with the cache given the model;
- multi-device: the base's ``get_mesh_config``, ``load_shard_plan`` (megatron, fsdp) and
  ``load_shard_spec``, with the attention and KV heads (and the experts a layout splits) to divide
  and the row's 2-D mesh.

Only the standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping

from ..base import ForgeModel
from ..config import HubWeights, InputSpec, LLMModelConfig, ModelGroup, ModelTask, TestSpec

# The sample every causal LM reads unless its row names another: about forty tokens, so the
# default 128-token batch is mostly padding and the mask matters.
PROMPT = (
    "A compiler for AI accelerators splits each layer of a language model across a grid of small "
    "cores. In two sentences, explain why such a model writes its answer one token at a time."
)


def causal_lm_row(
    repo_id: str,
    revision: str,
    model_class: str,
    num_params: int,
    *,
    test_num_layers: int,
    test_num_params: int,
    layers_key: str | tuple[str, ...] = "num_hidden_layers",
    group: ModelGroup = ModelGroup.GENERALITY,
    max_length: int = 128,
    max_new_tokens: int = 16,
    prompt: str = PROMPT,
    mesh_batch_rows: int = 1,
    mesh_batch_rows_from: int | None = None,
    test_overrides: Mapping[str, Any] | None = None,
    **test: Any,
) -> LLMModelConfig:
    """One causal-LM row: hub weights with the config shipped in ``configs/``, the prompt padded
    to ``max_length``, the reduced test build (``test_num_layers`` deep, narrowed by the config
    keywords ``test_overrides``, ``test_num_params`` parameters; ``test`` holds the rest of its
    :class:`TestSpec`: ``bf16_pcc``, ``export_unsupported``, ``quirks``) and, from
    ``mesh_batch_rows_from`` devices up, a mesh of ``mesh_batch_rows`` rows."""
    return LLMModelConfig(
        HubWeights.shipped(repo_id, revision, model_class, layers_key=layers_key),
        ModelTask.NLP_CAUSAL_LM,
        num_params,
        group,
        InputSpec(max_length=max_length, max_new_tokens=max_new_tokens, prompt=prompt),
        TestSpec(num_layers=test_num_layers, overrides=dict(test_overrides or {}), num_params=test_num_params, **test),
        mesh_batch_rows,
        mesh_batch_rows_from,
    )


class CausalLMLoader(ForgeModel):
    """Base of the causal-LM loaders."""

    @functools.cached_property
    def _shipped_config(self) -> Any:
        """The full shipped config, read once per loader for what this base looks up in it (heads,
        end-of-sequence ids, vocabulary, padding id); ``load_config()`` gives callers their own copy."""
        return self.load_config()

    @functools.cached_property
    def _state_space(self) -> bool:
        """Whether the model caches fixed-size states (Mamba) rather than keys and values."""
        from .generation import is_state_space

        return is_state_space(self._shipped_config)

    # ---- inputs --------------------------------------------------------------------------------

    def _load_inputs(
        self,
        *,
        batch_size: int,
        seq_len: int | None = None,
        mode: str = "prefill",
        num_layers: int | None = None,
        **overrides: Any,
    ) -> dict[str, Any]:
        """``mode="prefill"``: the prompt, left-padded to ``seq_len`` (default ``max_length``), with
        ``use_cache=False`` so the forward returns logits only.

        ``mode="decode"``: one step after that prefill: a new token per row, the mask and position
        one longer, and the KV cache (keyword ``cache``; ``past_key_values`` before transformers
        renamed it), a ``DynamicCache`` of seeded random keys and values shaped ``(batch,
        kv_heads, seq_len, head_dim)`` for each of the ``num_layers`` layers (pass the same
        ``num_layers`` and config overrides as to ``load_model``). A forward appends to
        the cache in place: call ``load_inputs`` again for every run. A state-space model's step is
        the token and its cache of seeded random convolution and SSM states, shaped as the model
        (built on the meta device, no weights) fills them; it has no mask and no positions.
        """
        from .generation import decode_step_inputs, synthetic_cache, synthetic_state_cache

        if mode not in ("prefill", "decode"):
            raise ValueError(f"unknown mode {mode!r}; accepted: 'prefill', 'decode'")
        prefill = self._prefill(batch_size=batch_size, seq_len=seq_len)
        if mode == "prefill":
            if num_layers is not None or overrides:
                given = ", ".join(["num_layers"] * (num_layers is not None) + sorted(overrides))
                raise TypeError(f"{given}: num_layers and config overrides only shape mode='decode' inputs")
            return prefill
        config = self.load_config(num_layers=num_layers, **overrides)
        if self._state_space:
            meta_model = self.source.build_meta(num_layers=num_layers, **overrides)
            cache = synthetic_state_cache(config, meta_model, batch_size=batch_size)
        else:
            cache = synthetic_cache(config, batch_size=batch_size, past_len=prefill["input_ids"].shape[1])
        # The prompt's last token again: a valid, deterministic id without running a model.
        return decode_step_inputs(prefill, prefill["input_ids"][:, -1], cache)

    def _prefill(self, *, batch_size: int, seq_len: int | None) -> dict[str, Any]:
        from .generation import prefill_inputs

        seq_len = self._variant_config.inputs.max_length if seq_len is None else seq_len
        ids, pad_id = self._prompt_ids()
        positions = not self._state_space
        return prefill_inputs(ids, batch_size=batch_size, seq_len=seq_len, pad_id=pad_id, positions=positions)

    def load_decode_inputs(
        self,
        model: Any,
        *,
        dtype_override: Any = None,
        batch_size: int = 1,
        seq_len: int | None = None,
    ) -> dict[str, Any]:
        """The first decode step as generation builds it: ``model`` runs the prefill, and the step
        holds its greedy next token and the cache it filled (in the model's dtype).

        Unlike :meth:`load_inputs` this needs the model; the prefill is ``load_inputs``' own.
        A forward appends to the cache in place: call again for every run.
        """
        from .generation import decode_inputs_from_model

        prefill = self.load_inputs(dtype_override=dtype_override, batch_size=batch_size, seq_len=seq_len)
        return decode_inputs_from_model(model, prefill)

    # ---- outputs -------------------------------------------------------------------------------

    def decode_output(
        self,
        outputs: Any,
        *,
        model: Any = None,
        inputs: Any = None,
        max_new_tokens: int | None = None,
        **kwargs: Any,
    ) -> list[str] | list[list[int]]:
        """Per row, the generated text (or token ids when no tokenizer can be had).

        With ``model`` and ``inputs`` (prefill inputs from ``load_inputs``), greedy generation of
        ``max_new_tokens`` (default: the row's ``max_new_tokens``) with the KV cache, cut at the
        end-of-sequence token. Without a model, the argmax of ``outputs``' last-position logits:
        the one next token.
        """
        from ..validation import check_outputs
        from .generation import cut_at_eos, greedy_generate

        if (model is None) != (inputs is None):
            raise TypeError("decode_output needs both model= and inputs= to generate, or neither")
        if model is None:
            check_outputs(outputs)
        if model is not None:
            steps = self._variant_config.inputs.max_new_tokens if max_new_tokens is None else max_new_tokens
            new = greedy_generate(model, inputs, steps)
        else:
            new = self.unpack_forward_output(outputs)[:, -1].argmax(-1, keepdim=True)
        eos = self._eos_ids()
        rows = [cut_at_eos(row, eos) for row in new.tolist()]
        tokenizer = self._tokenizer(warn=False)
        if tokenizer is None:
            return rows
        return [tokenizer.decode(row, skip_special_tokens=True) for row in rows]

    # ---- multi-device --------------------------------------------------------------------------

    def _mesh_divides(self) -> dict[str, int]:
        """Attention and KV heads: each device keeps whole ones; and, where the layout splits whole
        experts over the model axis (``TENSOR_PARALLEL["expert"]``), the experts."""
        config = self._shipped_config
        heads = config.num_attention_heads
        divides = {
            "num_attention_heads": heads,
            "num_key_value_heads": getattr(config, "num_key_value_heads", None) or heads,
        }
        if (self.TENSOR_PARALLEL or {}).get("expert"):
            for name in ("num_local_experts", "num_experts"):
                if isinstance(getattr(config, name, None), int):
                    divides[name] = getattr(config, name)
                    break
        return divides

    def _mesh_rows(self) -> dict[str, Any]:
        """``(rows, n/rows)`` from ``mesh_batch_rows_from`` devices up where the row asks for it."""
        row = self._variant_config
        return {"batch_rows": row.mesh_batch_rows, "batch_rows_from": row.mesh_batch_rows_from}

    def load_inputs_decode(self, dtype_override: Any = None, batch_size: int = 1, **kwargs: Any) -> dict[str, Any]:
        """Upstream's name for the decode step: ``load_inputs(mode="decode", ...)``, a new token
        per row and a cache of the full depth (pass ``num_layers=`` to match a cut model)."""
        return self.load_inputs(dtype_override=dtype_override, batch_size=batch_size, mode="decode", **kwargs)

    # ---- tokenizer -----------------------------------------------------------------------------

    def _eos_ids(self) -> list[int]:
        eos = self._shipped_config.eos_token_id
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]

    def _tokenizer(self, *, warn: bool = True) -> Any:
        """The real tokenizer at the pinned revision, trusted only when its size is the config's
        vocabulary (rounded up to the config's ``pad_vocab_size_multiple`` where the model pads
        its embeddings, as Mamba does) and it has a BOS token; else None (with one warning when
        ``warn``)."""
        from ..inputs.text import load_tokenizer

        source, config = self.source, self._shipped_config
        return load_tokenizer(
            source.hub_id,
            source.revision,
            vocab_size=config.vocab_size,
            special_tokens=("bos_token",),
            offline=source.offline(),
            warn=warn,
            pad_multiple=getattr(config, "pad_vocab_size_multiple", None) or 1,
        )

    def _prompt_ids(self) -> tuple[list[int], int]:
        """The prompt's token ids (BOS first; synthetic without a tokenizer) and the padding id."""
        from .generation import pad_token_id, prompt_token_ids

        config = self._shipped_config
        return prompt_token_ids(self._tokenizer(), config, self._variant_config.inputs.prompt), pad_token_id(config)
