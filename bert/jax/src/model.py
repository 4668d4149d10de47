"""BERT in Flax linen: the exact architecture of transformers' PyTorch ``BertModel`` and its task
heads, module for module and name for name, so the conversion rules are a plain renaming.

Built from the Hugging Face config the PyTorch model carries (:meth:`BertSettings.from_config`).
Every module computes in the dtype of its parameters and float inputs (bf16 weights give a bf16
forward); integer inputs stay integers. ``__call__`` takes the PyTorch loader's input names as
keywords and returns a dict with the Hugging Face output names of the task. ``train=True`` applies
dropout where a ``"dropout"`` rng is given (see :func:`_dropout`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

_ACTIVATIONS = {
    "gelu": lambda x: nn.gelu(x, approximate=False),
    "gelu_new": lambda x: nn.gelu(x, approximate=True),
    "gelu_pytorch_tanh": lambda x: nn.gelu(x, approximate=True),
    "relu": nn.relu,
    "silu": nn.silu,
    "swish": nn.silu,
    "tanh": jnp.tanh,
}


@dataclasses.dataclass(frozen=True)
class BertSettings:
    """The architecture fields of a ``BertConfig`` this implementation reads (hashable, so a
    module holding it can be a static argument)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    hidden_act: str
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_dropout_prob: float
    attention_probs_dropout_prob: float
    classifier_dropout: float
    num_labels: int
    tie_word_embeddings: bool = True  # the masked-LM decoder is the word embedding matrix

    @classmethod
    def from_config(cls, config: Any) -> "BertSettings":
        """From a transformers ``BertConfig`` (or any object with its attributes). Only what this
        implementation can reproduce exactly is accepted."""
        position = getattr(config, "position_embedding_type", "absolute")
        if position != "absolute":
            raise ValueError(f"position_embedding_type={position!r} is not supported; valid: 'absolute'")
        if getattr(config, "is_decoder", False) or getattr(config, "add_cross_attention", False):
            raise ValueError("a decoder BERT (is_decoder / add_cross_attention) is not supported; this is the encoder")
        if config.hidden_act not in _ACTIVATIONS:
            raise ValueError(f"hidden_act={config.hidden_act!r} is not supported; valid: {', '.join(_ACTIVATIONS)}")
        if config.hidden_size % config.num_attention_heads:
            heads = config.num_attention_heads
            raise ValueError(f"hidden_size {config.hidden_size} is not a multiple of num_attention_heads {heads}")
        classifier_dropout = getattr(config, "classifier_dropout", None)
        return cls(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            hidden_act=config.hidden_act,
            max_position_embeddings=config.max_position_embeddings,
            type_vocab_size=config.type_vocab_size,
            layer_norm_eps=config.layer_norm_eps,
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            classifier_dropout=config.hidden_dropout_prob if classifier_dropout is None else classifier_dropout,
            num_labels=getattr(config, "num_labels", 2),
            tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", True)),
        )


def _dropout(module: nn.Module, rate: float, train: bool) -> nn.Dropout:
    """Dropout at ``rate`` when training with a ``"dropout"`` rng (``apply(..., train=True,
    rngs={"dropout": key})``); without one a training forward is deterministic, which is what a
    compiler's CPU-against-device check of the training step (tt-xla's tester passes only
    ``train=True``) can compare."""
    return nn.Dropout(rate, deterministic=not (train and module.has_rng("dropout")))


def _layer_norm(s: BertSettings, name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=s.layer_norm_eps, name=name)


class BertEmbeddings(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, input_ids, token_type_ids, position_ids, *, train: bool = False):
        s = self.settings
        words = nn.Embed(s.vocab_size, s.hidden_size, name="word_embeddings")(input_ids)
        positions = nn.Embed(s.max_position_embeddings, s.hidden_size, name="position_embeddings")(position_ids)
        types = nn.Embed(s.type_vocab_size, s.hidden_size, name="token_type_embeddings")(token_type_ids)
        hidden = _layer_norm(s, "LayerNorm")(words + types + positions)
        return _dropout(self, s.hidden_dropout_prob, train)(hidden)


class BertSelfAttention(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden, mask, *, train: bool = False):
        s = self.settings
        heads = s.num_attention_heads
        head_dim = s.hidden_size // heads
        batch, length, _ = hidden.shape

        def split(x):  # (batch, length, hidden) -> (batch, heads, length, head_dim)
            return x.reshape(batch, length, heads, head_dim).transpose(0, 2, 1, 3)

        q = split(nn.Dense(s.hidden_size, name="query")(hidden))
        k = split(nn.Dense(s.hidden_size, name="key")(hidden))
        v = split(nn.Dense(s.hidden_size, name="value")(hidden))
        scores = jnp.einsum("bhqd,bhkd->bhqk", q, k) * jnp.asarray(head_dim**-0.5, q.dtype)
        if mask is not None:  # (batch, 1, 1, key length), True where a key may be attended
            scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        probs = jax.nn.softmax(scores, axis=-1)
        probs = _dropout(self, s.attention_probs_dropout_prob, train)(probs)
        context = jnp.einsum("bhqk,bhkd->bhqd", probs, v)
        return context.transpose(0, 2, 1, 3).reshape(batch, length, s.hidden_size)


class BertResidualOutput(nn.Module):
    """``BertSelfOutput`` and ``BertOutput``: dense, dropout, residual, LayerNorm."""

    settings: BertSettings

    @nn.compact
    def __call__(self, hidden, residual, *, train: bool = False):
        s = self.settings
        hidden = nn.Dense(s.hidden_size, name="dense")(hidden)
        hidden = _dropout(self, s.hidden_dropout_prob, train)(hidden)
        return _layer_norm(s, "LayerNorm")(hidden + residual)


class BertAttention(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden, mask, *, train: bool = False):
        context = BertSelfAttention(self.settings, name="self")(hidden, mask, train=train)
        return BertResidualOutput(self.settings, name="output")(context, hidden, train=train)


class BertIntermediate(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden):
        s = self.settings
        return _ACTIVATIONS[s.hidden_act](nn.Dense(s.intermediate_size, name="dense")(hidden))


class BertLayer(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden, mask, *, train: bool = False):
        attended = BertAttention(self.settings, name="attention")(hidden, mask, train=train)
        inner = BertIntermediate(self.settings, name="intermediate")(attended)
        return BertResidualOutput(self.settings, name="output")(inner, attended, train=train)


class BertEncoder(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden, mask, *, train: bool = False):
        for i in range(self.settings.num_hidden_layers):
            hidden = BertLayer(self.settings, name=f"layer_{i}")(hidden, mask, train=train)
        return hidden


class BertPooler(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden):
        return jnp.tanh(nn.Dense(self.settings.hidden_size, name="dense")(hidden[:, 0]))


class BertModel(nn.Module):
    """``BertModel``: embeddings, encoder and (``add_pooling_layer``) the pooler. Returns
    ``last_hidden_state`` and, with the pooler, ``pooler_output``."""

    settings: BertSettings
    add_pooling_layer: bool = True

    @classmethod
    def from_config(cls, config: Any, **kwargs: Any) -> "BertModel":
        return cls(BertSettings.from_config(config), **kwargs)

    @nn.compact
    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, *, train: bool = False):
        if not jnp.issubdtype(input_ids.dtype, jnp.integer):
            raise TypeError(f"input_ids must be integer token ids, got dtype {input_ids.dtype}")
        if input_ids.shape[-1] > self.settings.max_position_embeddings:
            raise ValueError(
                f"input_ids of length {input_ids.shape[-1]} exceed max_position_embeddings "
                f"{self.settings.max_position_embeddings}"
            )
        if token_type_ids is None:
            token_type_ids = jnp.zeros_like(input_ids)
        position_ids = jnp.arange(input_ids.shape[-1])[None, :]
        hidden = BertEmbeddings(self.settings, name="embeddings")(input_ids, token_type_ids, position_ids, train=train)
        mask = None if attention_mask is None else (attention_mask != 0)[:, None, None, :]
        hidden = BertEncoder(self.settings, name="encoder")(hidden, mask, train=train)
        out = {"last_hidden_state": hidden}
        if self.add_pooling_layer:
            out["pooler_output"] = BertPooler(self.settings, name="pooler")(hidden)
        return out


class _TaskModel(nn.Module):
    """A head on ``bert`` (``BertModel``); subclasses set whether the pooler exists."""

    settings: BertSettings
    POOLER = False

    @classmethod
    def from_config(cls, config: Any) -> "_TaskModel":
        return cls(BertSettings.from_config(config))

    def bert(self, input_ids, token_type_ids, attention_mask, train):
        return BertModel(self.settings, add_pooling_layer=self.POOLER, name="bert")(
            input_ids, token_type_ids, attention_mask, train=train
        )


class BertForQuestionAnswering(_TaskModel):
    """Span logits: ``start_logits`` and ``end_logits`` (batch, length)."""

    @nn.compact
    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, *, train: bool = False):
        hidden = self.bert(input_ids, token_type_ids, attention_mask, train)["last_hidden_state"]
        logits = nn.Dense(2, name="qa_outputs")(hidden)
        return {"start_logits": logits[..., 0], "end_logits": logits[..., 1]}


class BertForMaskedLM(_TaskModel):
    """Vocabulary ``logits`` (batch, length, vocab); the decoder is the word embedding matrix
    (tied, as in every shipped config) plus its own bias."""

    @classmethod
    def from_config(cls, config: Any) -> "BertForMaskedLM":
        settings = BertSettings.from_config(config)
        if not settings.tie_word_embeddings:
            raise ValueError("BertForMaskedLM with tie_word_embeddings=False is not supported; the decoder is tied")
        return cls(settings)

    @nn.compact
    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, *, train: bool = False):
        s = self.settings
        bert = BertModel(s, add_pooling_layer=False, name="bert")
        hidden = bert(input_ids, token_type_ids, attention_mask, train=train)["last_hidden_state"]
        return {"logits": BertOnlyMLMHead(s, name="cls")(hidden, bert.variables["params"]["embeddings"])}


class BertPredictionHeadTransform(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden):
        s = self.settings
        hidden = _ACTIVATIONS[s.hidden_act](nn.Dense(s.hidden_size, name="dense")(hidden))
        return _layer_norm(s, "LayerNorm")(hidden)


class BertLMPredictionHead(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden, embeddings):
        s = self.settings
        hidden = BertPredictionHeadTransform(s, name="transform")(hidden)
        # torch's decoder: a Linear whose weight is the word embedding matrix and whose bias is
        # this head's ``bias`` (both tied)
        logits = hidden @ embeddings["word_embeddings"]["embedding"].T.astype(hidden.dtype)
        bias = self.param("bias", nn.initializers.zeros_init(), (s.vocab_size,))
        return logits + bias.astype(logits.dtype)


class BertOnlyMLMHead(nn.Module):
    settings: BertSettings

    @nn.compact
    def __call__(self, hidden, embeddings):
        return BertLMPredictionHead(self.settings, name="predictions")(hidden, embeddings)


class BertForSequenceClassification(_TaskModel):
    """Sentence ``logits`` (batch, num_labels) from the pooled first token."""

    POOLER = True

    @nn.compact
    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, *, train: bool = False):
        s = self.settings
        pooled = self.bert(input_ids, token_type_ids, attention_mask, train)["pooler_output"]
        pooled = _dropout(self, s.classifier_dropout, train)(pooled)
        return {"logits": nn.Dense(s.num_labels, name="classifier")(pooled)}


class BertForTokenClassification(_TaskModel):
    """Per-token ``logits`` (batch, length, num_labels)."""

    @nn.compact
    def __call__(self, input_ids, token_type_ids=None, attention_mask=None, *, train: bool = False):
        s = self.settings
        hidden = self.bert(input_ids, token_type_ids, attention_mask, train)["last_hidden_state"]
        hidden = _dropout(self, s.classifier_dropout, train)(hidden)
        return {"logits": nn.Dense(s.num_labels, name="classifier")(hidden)}


#: the Flax class of each transformers class the BERT rows build
MODEL_CLASSES = {
    "BertModel": BertModel,
    "BertForQuestionAnswering": BertForQuestionAnswering,
    "BertForMaskedLM": BertForMaskedLM,
    "BertForSequenceClassification": BertForSequenceClassification,
    "BertForTokenClassification": BertForTokenClassification,
}


def flax_module_for(torch_model: Any) -> nn.Module:
    """The Flax module of a transformers BERT model: same class (head), same config."""
    name = type(torch_model).__name__
    if name not in MODEL_CLASSES:
        raise ValueError(f"no Flax BERT for {name!r}; valid: {', '.join(MODEL_CLASSES)}")
    return MODEL_CLASSES[name].from_config(torch_model.config)
