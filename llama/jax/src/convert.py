"""PyTorch ``LlamaForCausalLM`` state dict <-> the Flax variables of :mod:`.model`, as rules for
the shared converter (:mod:`...frameworks.flax_weights`)."""

from __future__ import annotations

from typing import Any

from ....frameworks.flax_weights import LINEAR, SAME, Rule

#: PyTorch keys with no Flax counterpart: the LM head when it is the input embeddings (tied; a
#: rule claims it first where the config unties it). RoPE's ``inv_freq`` is not persistent, so
#: it is in no state dict.
SKIP = ("lm_head.weight",)

_LAYER = "model.layers.{i}."
_FLAX_LAYER = "params/model/layers_{i}/"


def rules(config: Any) -> list[Rule]:
    """The rules for a transformers ``LlamaConfig``: biases where ``attention_bias`` or
    ``mlp_bias`` asks for them, ``lm_head`` unless ``tie_word_embeddings``."""
    out = [
        Rule("model.embed_tokens.weight", "params/model/embed_tokens/embedding", SAME),
        Rule("model.norm.weight", "params/model/norm/weight", SAME),
        Rule(_LAYER + "input_layernorm.weight", _FLAX_LAYER + "input_layernorm/weight", SAME),
        Rule(_LAYER + "post_attention_layernorm.weight", _FLAX_LAYER + "post_attention_layernorm/weight", SAME),
    ]
    linears = [("self_attn", p, getattr(config, "attention_bias", False)) for p in ("q", "k", "v", "o")]
    linears += [("mlp", p, getattr(config, "mlp_bias", False)) for p in ("gate", "up", "down")]
    for block, proj, bias in linears:
        torch_name, flax_name = f"{_LAYER}{block}.{proj}_proj", f"{_FLAX_LAYER}{block}/{proj}_proj"
        out.append(Rule(f"{torch_name}.weight", f"{flax_name}/kernel", LINEAR))
        if bias:
            out.append(Rule(f"{torch_name}.bias", f"{flax_name}/bias", SAME))
    if not getattr(config, "tie_word_embeddings", False):
        out.append(Rule("lm_head.weight", "params/lm_head/kernel", LINEAR))
    return out
