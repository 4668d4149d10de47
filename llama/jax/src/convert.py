"""PyTorch ``LlamaForCausalLM`` state dict <-> the Flax variables of :mod:`.model`, as rules for
the shared converter (:mod:`...frameworks.flax_weights`)."""

from __future__ import annotations

from typing import Any

from ....frameworks.flax_weights import Rule, dense, embedding, norm

#: PyTorch keys with no Flax counterpart: the LM head when it is the input embeddings (tied; a
#: rule claims it first where the config unties it). RoPE's ``inv_freq`` is not persistent, so
#: it is in no state dict.
SKIP = ("lm_head.weight",)


def rules(config: Any) -> list[Rule]:
    """The rules for a transformers ``LlamaConfig``: biases where ``attention_bias`` or
    ``mlp_bias`` asks for them, ``lm_head`` unless ``tie_word_embeddings``."""
    layer, flax_layer = "model.layers.{i}", "model/layers_{i}"
    out = embedding("model.embed_tokens", "model/embed_tokens") + norm("model.norm", "model/norm", bias=False)
    for name in ("input_layernorm", "post_attention_layernorm"):
        out += norm(f"{layer}.{name}", f"{flax_layer}/{name}", bias=False)
    attention_bias = bool(getattr(config, "attention_bias", False))
    for proj in ("q_proj", "k_proj", "v_proj", "o_proj"):
        out += dense(f"{layer}.self_attn.{proj}", f"{flax_layer}/self_attn/{proj}", bias=attention_bias)
    mlp_bias = bool(getattr(config, "mlp_bias", False))
    for proj in ("gate_proj", "up_proj", "down_proj"):
        out += dense(f"{layer}.mlp.{proj}", f"{flax_layer}/mlp/{proj}", bias=mlp_bias)
    if not getattr(config, "tie_word_embeddings", False):
        out += dense("lm_head", "lm_head", bias=False)
    return out
