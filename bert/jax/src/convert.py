"""PyTorch <-> Flax conversion rules of BERT: one list for every head.

The Flax modules (:mod:`.model`) are named as transformers' PyTorch ones, so a rule is a renaming:
``.`` becomes ``/``, ``layer.{i}`` becomes ``layer_{i}``, a Linear's ``weight`` is a Dense's
``kernel`` (transposed), an Embedding's ``weight`` is an Embed's ``embedding`` and a LayerNorm's
``weight`` its ``scale``. The encoder rules appear twice: under ``bert.`` (the task heads) and
bare (``BertModel``); a key matches one of them since templates are anchored at both ends.
"""

from __future__ import annotations

from typing import Any

from ....frameworks.flax_weights import Rule, dense, embedding, norm

#: PyTorch keys with no Flax counterpart (globs): the position / token-type buffers (older
#: transformers saved them) and the masked-LM decoder, whose weight is the word embedding matrix
#: and whose bias is ``cls.predictions.bias`` (tied in every BERT the rows build)
SKIP = (
    "*embeddings.position_ids",
    "*embeddings.token_type_ids",
    "cls.predictions.decoder.weight",
    "cls.predictions.decoder.bias",
)


def _encoder(torch: str, flax: str) -> list[Rule]:
    """``BertModel``'s rules, its keys under ``torch`` (``""`` or ``"bert."``), its Flax paths
    under ``flax`` (``""`` or ``"bert/"``, below ``params``)."""
    emb, layer = f"{torch}embeddings", f"{torch}encoder.layer.{{i}}"
    femb, flayer = f"{flax}embeddings", f"{flax}encoder/layer_{{i}}"
    rules = []
    for name in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        rules += embedding(f"{emb}.{name}", f"{femb}/{name}")
    rules += norm(f"{emb}.LayerNorm", f"{femb}/LayerNorm")
    for name in ("query", "key", "value"):
        rules += dense(f"{layer}.attention.self.{name}", f"{flayer}/attention/self/{name}")
    rules += dense(f"{layer}.attention.output.dense", f"{flayer}/attention/output/dense")
    rules += norm(f"{layer}.attention.output.LayerNorm", f"{flayer}/attention/output/LayerNorm")
    rules += dense(f"{layer}.intermediate.dense", f"{flayer}/intermediate/dense")
    rules += dense(f"{layer}.output.dense", f"{flayer}/output/dense")
    rules += norm(f"{layer}.output.LayerNorm", f"{flayer}/output/LayerNorm")
    return rules + dense(f"{torch}pooler.dense", f"{flax}pooler/dense")


def rules(config: Any = None) -> list[Rule]:
    """The rules of every BERT head (``BertModel``, question answering, masked LM, sequence and
    token classification); ``config`` is accepted for the common signature and not needed: layer
    indices are placeholders."""
    heads = dense("qa_outputs", "qa_outputs") + dense("classifier", "classifier")
    heads += [Rule("cls.predictions.bias", "params/cls/predictions/bias")]
    heads += dense("cls.predictions.transform.dense", "cls/predictions/transform/dense")
    heads += norm("cls.predictions.transform.LayerNorm", "cls/predictions/transform/LayerNorm")
    return _encoder("", "") + _encoder("bert.", "bert/") + heads
