"""PyTorch <-> Flax conversion rules of BERT: one list for every head.

The Flax modules (:mod:`.model`) are named as transformers' PyTorch ones, so a rule is a renaming:
``.`` becomes ``/``, ``layer.{i}`` becomes ``layer_{i}``, a Linear's ``weight`` is a Dense's
``kernel`` (transposed), an Embedding's ``weight`` is an Embed's ``embedding`` and a LayerNorm's
``weight`` its ``scale``. The encoder rules appear twice: under ``bert.`` (the task heads) and
bare (``BertModel``); a key matches one of them since templates are anchored at both ends.
"""

from __future__ import annotations

from typing import Any

from ....frameworks.flax_weights import LINEAR, SAME, Rule

#: PyTorch keys with no Flax counterpart: the position / token-type buffers (older transformers
#: saved them) and the masked-LM decoder, whose weight is the word embedding matrix and whose bias
#: is ``cls.predictions.bias`` (tied in every BERT the rows build)
SKIP = (
    "embeddings.position_ids",
    "embeddings.token_type_ids",
    "bert.embeddings.position_ids",
    "bert.embeddings.token_type_ids",
    "cls.predictions.decoder.weight",
    "cls.predictions.decoder.bias",
)


def _linear(torch: str, flax: str) -> list[Rule]:
    return [Rule(f"{torch}.weight", f"{flax}/kernel", LINEAR), Rule(f"{torch}.bias", f"{flax}/bias")]


def _layer_norm(torch: str, flax: str) -> list[Rule]:
    return [Rule(f"{torch}.weight", f"{flax}/scale"), Rule(f"{torch}.bias", f"{flax}/bias")]


def _encoder(torch: str, flax: str) -> list[Rule]:
    """``BertModel``'s rules, its keys under ``torch`` (``""`` or ``"bert."``), its Flax paths
    under ``flax`` (``"params"`` or ``"params/bert"``)."""
    emb, layer = f"{torch}embeddings", f"{torch}encoder.layer.{{i}}"
    femb, flayer = f"{flax}/embeddings", f"{flax}/encoder/layer_{{i}}"
    rules = [
        Rule(f"{emb}.{name}.weight", f"{femb}/{name}/embedding", SAME)
        for name in ("word_embeddings", "position_embeddings", "token_type_embeddings")
    ]
    rules += _layer_norm(f"{emb}.LayerNorm", f"{femb}/LayerNorm")
    for name in ("query", "key", "value"):
        rules += _linear(f"{layer}.attention.self.{name}", f"{flayer}/attention/self/{name}")
    rules += _linear(f"{layer}.attention.output.dense", f"{flayer}/attention/output/dense")
    rules += _layer_norm(f"{layer}.attention.output.LayerNorm", f"{flayer}/attention/output/LayerNorm")
    rules += _linear(f"{layer}.intermediate.dense", f"{flayer}/intermediate/dense")
    rules += _linear(f"{layer}.output.dense", f"{flayer}/output/dense")
    rules += _layer_norm(f"{layer}.output.LayerNorm", f"{flayer}/output/LayerNorm")
    rules += _linear(f"{torch}pooler.dense", f"{flax}/pooler/dense")
    return rules


def rules(config: Any = None) -> list[Rule]:
    """The rules of every BERT head (``BertModel``, question answering, masked LM, sequence and
    token classification); ``config`` is accepted for the common signature and not needed: layer
    indices are placeholders."""
    heads = _linear("qa_outputs", "params/qa_outputs") + _linear("classifier", "params/classifier")
    heads += [Rule("cls.predictions.bias", "params/cls/predictions/bias")]
    heads += _linear("cls.predictions.transform.dense", "params/cls/predictions/transform/dense")
    heads += _layer_norm("cls.predictions.transform.LayerNorm", "params/cls/predictions/transform/LayerNorm")
    return _encoder("", "params") + _encoder("bert.", "params/bert") + heads
