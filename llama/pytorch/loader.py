"""Llama causal language models: Llama 3, 3.1, 3.2 and 3.3 from Meta, and TinyLlama.

Every variant's published architecture ships in ``configs/``, so ``weights="random"`` builds the
exact model with no token and no network (the meta-llama repositories are gated on the hub).
``"pretrained"`` loads the pinned revision through transformers and its cache.

Inputs are one prompt written for this project, tokenized, left-padded (see :mod:`..generation`)
to the row's ``max_length`` or to ``seq_len=``. ``load_inputs(mode="decode")`` gives the decode
step (one new token per row plus a KV cache of the right shapes) without weights;
:meth:`ModelLoader.load_decode_inputs` builds the same from a model's own prefill.
"""

from __future__ import annotations

from typing import Any

from ...base import ForgeModel
from ...config import LLMModelConfig, ModelGroup, ModelInfo, ModelSource, ModelTask, StrEnum

# The sample every variant reads: about forty tokens, so the default 128-token batch is mostly
# padding and the mask matters.
PROMPT = (
    "A compiler for AI accelerators splits each layer of a language model across a grid of small "
    "cores. In two sentences, explain why such a model writes its answer one token at a time."
)


class ModelVariant(StrEnum):
    LLAMA_3_2_1B = "llama_3_2_1b"
    LLAMA_3_2_1B_INSTRUCT = "llama_3_2_1b_instruct"
    LLAMA_3_2_3B = "llama_3_2_3b"
    LLAMA_3_2_3B_INSTRUCT = "llama_3_2_3b_instruct"
    LLAMA_3_1_8B = "llama_3_1_8b"
    LLAMA_3_1_8B_INSTRUCT = "llama_3_1_8b_instruct"
    LLAMA_3_8B = "llama_3_8b"
    LLAMA_3_8B_INSTRUCT = "llama_3_8b_instruct"
    LLAMA_3_1_70B = "llama_3_1_70b"
    LLAMA_3_1_70B_INSTRUCT = "llama_3_1_70b_instruct"
    LLAMA_3_3_70B_INSTRUCT = "llama_3_3_70b_instruct"
    TINYLLAMA_V1_1 = "tinyllama_v1_1"


def _llama(
    hub_id: str,
    revision: str,
    num_params: int,
    test_num_params: int,
    *,
    group: ModelGroup = ModelGroup.GENERALITY,
    **extra: Any,
) -> LLMModelConfig:
    return LLMModelConfig(
        pretrained_model_name=hub_id,
        source=ModelSource.HUGGING_FACE,
        task=ModelTask.NLP_CAUSAL_LM,
        group=group,
        revision=revision,
        config_file=f"configs/{hub_id.replace('/', '-')}.json",
        model_class="LlamaForCausalLM",
        num_params=num_params,
        test_num_layers=1,
        test_num_params=test_num_params,
        prompt=PROMPT,
        extra=extra,
    )


# Parameter counts are the published ones, checked by building each row on the meta device (tied
# embeddings counted once). The test build is one decoder layer: the 8B and 70B rows keep 1-3 G
# parameters of embeddings and head even then, so their test_num_params put them under `large`.
_1B, _1B_TEST = 1_235_814_400, 323_491_840
_3B, _3B_TEST = 3_212_749_824, 494_674_944
_8B, _8B_TEST = 8_030_261_248, 1_268_789_248
_70B, _70B_TEST = 70_553_706_496, 2_957_008_896
# The 70B rows take a 2-D mesh from 8 devices up: 2 rows of data parallel, tensor parallel along each.
_MESH_70B = {"mesh_batch_rows": 2, "mesh_batch_rows_from": 8}


class ModelLoader(ForgeModel):
    _VARIANTS = {
        ModelVariant.LLAMA_3_2_1B: _llama(
            "meta-llama/Llama-3.2-1B", "4e20de362430cd3b72f300e6b0f18e50e7166e08", _1B, _1B_TEST
        ),
        ModelVariant.LLAMA_3_2_1B_INSTRUCT: _llama(
            "meta-llama/Llama-3.2-1B-Instruct",
            "9213176726f574b556790deb65791e0c5aa438b6",
            _1B,
            _1B_TEST,
            group=ModelGroup.RED,
        ),
        ModelVariant.LLAMA_3_2_3B: _llama(
            "meta-llama/Llama-3.2-3B", "13afe5124825b4f3751f836b40dafda64c1ed062", _3B, _3B_TEST
        ),
        ModelVariant.LLAMA_3_2_3B_INSTRUCT: _llama(
            "meta-llama/Llama-3.2-3B-Instruct",
            "0cb88a4f764b7a12671c53f0838cd831a0843b95",
            _3B,
            _3B_TEST,
            group=ModelGroup.PRIORITY,
        ),
        ModelVariant.LLAMA_3_1_8B: _llama(
            "meta-llama/Llama-3.1-8B", "d04e592bb4f6aa9cfee91e2e20afa771667e1d4b", _8B, _8B_TEST
        ),
        ModelVariant.LLAMA_3_1_8B_INSTRUCT: _llama(
            "meta-llama/Llama-3.1-8B-Instruct",
            "0e9e39f249a16976918f6564b8830bc894c89659",
            _8B,
            _8B_TEST,
            group=ModelGroup.PRIORITY,
        ),
        ModelVariant.LLAMA_3_8B: _llama(
            "meta-llama/Meta-Llama-3-8B", "8cde5ca8380496c9a6cc7ef3a8b46a0372a1d920", _8B, _8B_TEST
        ),
        ModelVariant.LLAMA_3_8B_INSTRUCT: _llama(
            "meta-llama/Meta-Llama-3-8B-Instruct", "8afb486c1db24fe5011ec46dfbe5b5dccdb575c2", _8B, _8B_TEST
        ),
        ModelVariant.LLAMA_3_1_70B: _llama(
            "meta-llama/Llama-3.1-70B", "349b2ddb53ce8f2849a6c168a81980ab25258dac", _70B, _70B_TEST, **_MESH_70B
        ),
        ModelVariant.LLAMA_3_1_70B_INSTRUCT: _llama(
            "meta-llama/Llama-3.1-70B-Instruct",
            "1605565b47bb9346c5515c34102e054115b4f98b",
            _70B,
            _70B_TEST,
            **_MESH_70B,
        ),
        ModelVariant.LLAMA_3_3_70B_INSTRUCT: _llama(
            "meta-llama/Llama-3.3-70B-Instruct",
            "6f6073b423013f6a7d4d9f39144961bfbfbc386b",
            _70B,
            _70B_TEST,
            **_MESH_70B,
        ),
        ModelVariant.TINYLLAMA_V1_1: _llama(
            "TinyLlama/TinyLlama_v1.1", "ff3c701f2424c7625fdefb9dd470f45ef18b02d6", 1_100_048_384, 175_118_336
        ),
    }
    DEFAULT_VARIANT = ModelVariant.LLAMA_3_2_1B_INSTRUCT

    @classmethod
    def _get_model_info(cls, variant: StrEnum) -> ModelInfo:
        return cls._info(variant, "llama")


    def load_config(self, *, num_layers: int | None = None, **overrides: Any) -> Any:
        """The variant's ``LlamaConfig`` (optionally cut to ``num_layers``); builds nothing."""
        return self._weights_source().load_config(num_layers=num_layers, **overrides)

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
        one longer, and ``past_key_values``, a ``DynamicCache`` of seeded random keys and values
        shaped ``(batch, kv_heads, seq_len, head_dim)`` for each of the ``num_layers`` layers (pass
        the same ``num_layers`` and config overrides as to ``load_model``). A forward appends to
        the cache in place: call ``load_inputs`` again for every run.
        """
        from ...generation import decode_step_inputs, synthetic_cache

        if mode not in ("prefill", "decode"):
            raise ValueError(f"unknown mode {mode!r}; accepted: 'prefill', 'decode'")
        prefill = self._prefill(batch_size=batch_size, seq_len=seq_len)
        if mode == "prefill":
            if num_layers is not None or overrides:
                given = ", ".join(["num_layers"] * (num_layers is not None) + sorted(overrides))
                raise TypeError(f"{given}: num_layers and config overrides only shape mode='decode' inputs")
            return prefill
        config = self.load_config(num_layers=num_layers, **overrides)
        cache = synthetic_cache(config, batch_size=batch_size, past_len=prefill["input_ids"].shape[1])
        # The prompt's last token again: a valid, deterministic id without running a model.
        return decode_step_inputs(prefill, prefill["input_ids"][:, -1], cache)

    def _prefill(self, *, batch_size: int, seq_len: int | None) -> dict[str, Any]:
        from ...generation import prefill_inputs

        seq_len = self._variant_config.max_length if seq_len is None else seq_len
        ids, pad_id = self._prompt_ids()
        return prefill_inputs(ids, batch_size=batch_size, seq_len=seq_len, pad_id=pad_id)

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
        from ...generation import decode_inputs_from_model

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
        from ...generation import cut_at_eos, greedy_generate

        from ...validation import check_outputs

        if (model is None) != (inputs is None):
            raise TypeError("decode_output needs both model= and inputs= to generate, or neither")
        if model is None:
            check_outputs(outputs)
        if model is not None:
            steps = self._variant_config.max_new_tokens if max_new_tokens is None else max_new_tokens
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

    def get_mesh_config(self, num_devices: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
        """``(batch, model)`` mesh: ``(1, n)``, or ``(2, n/2)`` for the 70B rows from 8 devices.

        The model axis must divide the attention and KV heads (each device keeps whole heads).
        """
        from ...parallel import mesh_config

        config = self.load_config()
        extra = self._variant_config.extra
        return mesh_config(
            num_devices,
            divides={
                "num_attention_heads": config.num_attention_heads,
                "num_key_value_heads": config.num_key_value_heads,
            },
            batch_rows=extra.get("mesh_batch_rows", 1),
            batch_rows_from=extra.get("mesh_batch_rows_from"),
        )

    def load_shard_spec(self, model: Any) -> dict[str, tuple[str | None, ...]]:
        """Parameter name to per-dimension mesh axes: column-parallel q/k/v/gate/up, row-parallel
        o/down, column-parallel lm_head when it is not tied to the embedding, the rest replicated
        (see :func:`..parallel.transformer_shard_spec`)."""
        from ...parallel import transformer_shard_spec

        return transformer_shard_spec(model)

    # ---- tokenizer -----------------------------------------------------------------------------

    def _eos_ids(self) -> list[int]:
        eos = self.load_config().eos_token_id
        return list(eos) if isinstance(eos, (list, tuple)) else [eos]

    def _tokenizer(self, *, warn: bool = True) -> Any:
        """The real tokenizer at the pinned revision, trusted only when its size is the config's
        vocabulary and it has a BOS token; else None (with one warning when ``warn``)."""
        from ...inputs.text import load_tokenizer

        source, config = self._weights_source(), self.load_config()
        return load_tokenizer(
            source.hub_id,
            source.revision,
            vocab_size=config.vocab_size,
            special_tokens=("bos_token",),
            offline=source.offline(),
            warn=warn,
        )

    def _prompt_ids(self) -> tuple[list[int], int]:
        """The prompt's token ids (BOS first; synthetic without a tokenizer) and the padding id."""
        from ...generation import pad_token_id, prompt_token_ids

        config = self.load_config()
        return prompt_token_ids(self._tokenizer(), config, self._variant_config.prompt), pad_token_id(config)
