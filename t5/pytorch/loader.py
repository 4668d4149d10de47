"""T5 (Google): encoder-decoder with relative-position buckets, on the text-to-text task base
(:mod:`...tasks.text_to_text`). t5-small translates English to German (ReLU feed-forward, the
``lm_head`` tied to the embeddings and the decoder's output scaled by ``d_model**-0.5``);
Flan-T5 summarizes (gated-GELU feed-forward, an ``lm_head`` of its own, no scaling).

The suite cuts encoder and decoder to the same depth (``num_layers=`` sets both; t5-small's
config has no ``num_decoder_layers``, which then follows ``num_layers``).
"""

from __future__ import annotations

from ...config import ModelTask, StrEnum
from ...tasks.text_to_text import TextToTextLoader, text_to_text_row

_BOTH_STACKS = ("num_layers", "num_decoder_layers")
_QUIRKS = (
    "relative-position buckets: torch.log of the int64 distances in float32, cast back to int64, "
    "clamped with torch.min and chosen with torch.where (in float32 whatever the model's dtype)",
    "the decode step's cross-attention reads its keys and values from the cache "
    "(EncoderDecoderCache), not from encoder_outputs",
)


class ModelVariant(StrEnum):
    SMALL = "small"
    FLAN_T5_BASE = "flan_t5_base"
    FLAN_T5_LARGE = "flan_t5_large"


class ModelLoader(TextToTextLoader):
    # SentencePiece's 32,000 pieces (<pad> 0, </s> 1, <unk> 2 first) and 100 sentinels
    # <extra_id_99..0> at 32000-32099; the embedding has 32,128 rows.
    TOKENIZER_SIZE = 32_100
    ORDINARY_IDS = (3, 32_000)

    _VARIANTS = {
        ModelVariant.SMALL: text_to_text_row(
            "google-t5/t5-small",
            "df1b051c49625cf57a3d0d8d3863ed4d13564fe4",
            60_506_624,
            task=ModelTask.NLP_TRANSLATION,
            test_num_layers=2,
            test_num_params=31_136_256,
            bf16_pcc=0.999,
            quirks=_QUIRKS,
        ),
        ModelVariant.FLAN_T5_BASE: text_to_text_row(
            "google/flan-t5-base",
            "7bcac572ce56db69c1ea7c8af255c5d7c9672fc2",
            247_577_856,
            task=ModelTask.NLP_SUMMARIZATION,
            layers_key=_BOTH_STACKS,
            test_num_layers=2,
            test_num_params=82_388_736,
            bf16_pcc=0.999,
            quirks=_QUIRKS,
        ),
        ModelVariant.FLAN_T5_LARGE: text_to_text_row(
            "google/flan-t5-large",
            "0613663d0d48ea86ba8cb3d7a44f0f65dc596a2a",
            783_150_080,
            task=ModelTask.NLP_SUMMARIZATION,
            layers_key=_BOTH_STACKS,
            test_num_layers=2,
            test_num_params=125_580_288,
            bf16_pcc=0.999,
            quirks=_QUIRKS,
        ),
    }
    DEFAULT_VARIANT = ModelVariant.SMALL
