"""Text-to-text generation (T5): translation and summarization, on the encoder-decoder base
(:mod:`.encoder_decoder`: first step, decode step with a KV cache, greedy generation); what is
its own here is the prompt and its tokenization, and upstream's ``load_inputs_decode``.

A family's loader is its variant table, rows made by :func:`text_to_text_row`: hub weights with
the shipped config, the task (``NLP_TRANSLATION`` or ``NLP_SUMMARIZATION``) and the prompt the
encoder reads (by default the task's sample text written for this project, after T5's task
prefix, :data:`PROMPTS`), and the family's tokenizer layout (``TOKENIZER_SIZE``,
``ORDINARY_IDS``).

- Inputs: the prompt tokenized by the model's own tokenizer at the pinned revision when it can be
  had (trusted only with exactly ``TOKENIZER_SIZE`` tokens and its ``</s>``, ``<pad>`` and
  ``<unk>``), ended by ``</s>``, unpadded (every row is the same prompt) and cut at
  ``max_length``; else deterministic synthetic ids with the same layout (each word or punctuation
  mark hashed into ``ORDINARY_IDS``, then the end-of-sequence id) and one
  ``PreprocessorFallbackWarning``. ``decoder_input_ids`` holds the decoder start token.
- ``decode_output``: the translation or summary per row with ``model=`` (greedy, with the cache),
  else the next token; token ids where no tokenizer can be had.

Only the standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..config import HubWeights, InputSpec, LLMModelConfig, ModelGroup, ModelTask, TestSpec
from .encoder_decoder import EncoderDecoderLoader

#: Real text written for this project, one per task.
SAMPLES = {
    ModelTask.NLP_TRANSLATION: (
        "The library opens at nine in the morning, and children may borrow up to five books at a time."
    ),
    ModelTask.NLP_SUMMARIZATION: (
        "A small team set out to run a large language model on a chip with hundreds of simple cores. "
        "At first every layer waited for data from memory. They split each matrix into tiles that fit "
        "in the cores' local memory and overlapped the transfers with the arithmetic. Three months "
        "later the model answered four times faster and used half the power."
    ),
}
#: T5's task prefixes (its config's ``task_specific_params``), before each task's sample.
PREFIXES = {ModelTask.NLP_TRANSLATION: "translate English to German: ", ModelTask.NLP_SUMMARIZATION: "summarize: "}
#: The prompt a row reads unless it names another.
PROMPTS = {task: PREFIXES[task] + text for task, text in SAMPLES.items()}
#: The tasks this base serves.
TASKS = frozenset(SAMPLES)


def text_to_text_row(
    repo_id: str,
    revision: str,
    num_params: int,
    *,
    task: ModelTask,
    test_num_layers: int,
    test_num_params: int,
    layers_key: str | tuple[str, ...] = "num_layers",
    model_class: str = "T5ForConditionalGeneration",
    group: ModelGroup = ModelGroup.GENERALITY,
    max_length: int = 512,
    max_new_tokens: int = 32,
    prompt: str | None = None,
    bf16_pcc: float = 0.99,
    quirks: tuple[str, ...] = (),
) -> LLMModelConfig:
    """One text-to-text row: hub weights with the config shipped in ``configs/``, the prompt (the
    task's by default) cut at ``max_length`` tokens, ``max_new_tokens`` generated, and the reduced
    test build (``test_num_layers`` deep in every ``layers_key`` field, ``test_num_params``)."""
    if task not in TASKS:
        raise ValueError(f"task {task} has no text-to-text sample; accepted: {sorted(map(str, TASKS))}")
    return LLMModelConfig(
        HubWeights.shipped(repo_id, revision, model_class, layers_key=layers_key),
        task,
        num_params,
        group,
        InputSpec(
            max_length=max_length, max_new_tokens=max_new_tokens, prompt=PROMPTS[task] if prompt is None else prompt
        ),
        TestSpec(num_layers=test_num_layers, num_params=test_num_params, bf16_pcc=bf16_pcc, quirks=quirks),
    )


class TextToTextLoader(EncoderDecoderLoader):
    """Base of the text-to-text loaders (T5)."""

    #: the tokenizer's own size where it is below the config's ``vocab_size`` (T5: 32,100 tokens in
    #: 32,128 embedding rows); None: the vocabulary size
    TOKENIZER_SIZE: ClassVar[int | None] = None
    #: ``(low, high)``: the ids of ordinary tokens, which synthetic ids are drawn from (T5: above
    #: ``<pad>``, ``</s>``, ``<unk>`` and below the sentinels); None: above the special ids
    ORDINARY_IDS: ClassVar[tuple[int, int] | None] = None

    def _tokenizer(self, *, warn: bool = True) -> Any:
        """The real tokenizer at the pinned revision, trusted only with exactly ``TOKENIZER_SIZE``
        tokens and its end-of-sequence, padding and unknown tokens; else None (one warning when
        ``warn``)."""
        from ..inputs.text import load_tokenizer

        source = self.source
        return load_tokenizer(
            source.hub_id,
            source.revision,
            vocab_size=self._shipped_config.vocab_size,
            tokenizer_size=self.TOKENIZER_SIZE,
            special_tokens=("eos_token", "pad_token", "unk_token"),
            offline=source.offline(),
            warn=warn,
        )

    def _prompt_ids(self) -> list[int]:
        """The prompt's ids ending in end-of-sequence, cut at ``max_length`` (the last kept id
        replaced by end-of-sequence, as a truncating tokenizer ends it)."""
        spec, config = self._variant_config.inputs, self._shipped_config
        eos = self._eos_ids()[0]
        tokenizer = self._tokenizer()
        if tokenizer is not None:
            ids = list(tokenizer(spec.prompt)["input_ids"])
        else:
            from ..inputs.text import pieces, synthetic_ids

            specials = {config.pad_token_id, eos, getattr(config, "unk_token_id", None)} - {None}
            low, high = self.ORDINARY_IDS or (max(specials) + 1, config.vocab_size)
            words = pieces(spec.prompt)
            ids = synthetic_ids(
                [spec.prompt],
                max_length=len(words) + 1,
                vocab_size=high,
                low=low,
                pad_id=config.pad_token_id,
                sep_id=eos,
                token_type_ids=False,
            )["input_ids"][0].tolist()
        if not ids or ids[-1] != eos:
            ids.append(eos)
        return ids if len(ids) <= spec.max_length else ids[: spec.max_length - 1] + [eos]

    def load_inputs_decode(self, dtype_override: Any = None, batch_size: int = 1, **kwargs: Any) -> dict[str, Any]:
        """Upstream's name for the decode step: ``load_inputs(mode="decode", ...)``, a new token per
        row, the encoder's output and a KV cache of the full depth (``num_layers=`` to match a cut
        model). tt-xla sweeps its decode phase over every loader that has it: the text-to-text
        ones, as upstream's T5; upstream's Whisper has none, and neither has ours."""
        return self.load_inputs(dtype_override=dtype_override, batch_size=batch_size, mode="decode", **kwargs)

    def _encoder_inputs(self, *, batch_size: int) -> dict[str, Any]:
        """``input_ids`` and ``attention_mask`` ``(batch_size, prompt length)``: the prompt in every
        row, so no padding."""
        import torch

        from ..inputs import check_input_bytes

        ids = self._prompt_ids()
        check_input_bytes(2 * 8 * batch_size * len(ids), f"text inputs of batch {batch_size}")
        input_ids = torch.tensor([ids], dtype=torch.long).expand(batch_size, len(ids)).clone()
        return {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids)}


__all__ = ["PREFIXES", "PROMPTS", "SAMPLES", "TASKS", "TextToTextLoader", "text_to_text_row"]
