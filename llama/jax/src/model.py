"""Llama causal LM in Flax linen: transformers' ``LlamaForCausalLM``, layer for layer.

Built from the transformers config the PyTorch model carries (:meth:`LlamaForCausalLM.from_config`).
The parameter tree mirrors the PyTorch module names (``params/model/layers_0/self_attn/q_proj/kernel``
for ``model.layers.0.self_attn.q_proj.weight``), so :mod:`.convert` is one rule per weight.

What it computes, as transformers 5 does:

- token embeddings; per decoder layer a pre-norm (RMSNorm) grouped-query self-attention with
  rotary position embeddings and a pre-norm SwiGLU MLP, each added to the residual; a final RMSNorm;
  the LM head, its own weights or the input embeddings (``tie_word_embeddings``);
- RoPE frequencies as ``ROPE_INIT_FUNCTIONS`` computes them (``"default"`` and ``"llama3"``), in
  float32; the PyTorch ``inv_freq`` buffer is not persistent, so here it is a constant, not a weight;
- the mask: causal by index, and keys where ``attention_mask`` is 0 are masked. A query that can
  see no key at all (left padding before the prompt) gets a zero attention output, as PyTorch's
  SDPA (the model's default attention) gives on CPU, rather than NaN;
- RMSNorm, RoPE angles and the attention softmax in float32, cast back to the activation dtype,
  exactly where transformers upcasts; everything else runs in the dtype of the parameters (bf16
  parameters and bf16 inputs compute in bf16).

Full-sequence logits only: there is no KV cache (``use_cache`` is accepted so the PyTorch loader's
input dict can be passed unchanged, and must be false).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


@dataclass(frozen=True)
class LlamaArch:
    """The architecture fields of a transformers ``LlamaConfig`` this module uses (hashable, so it
    can be a linen attribute)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    rope_type: str = "default"
    rope_factor: float = 1.0
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_position_embeddings: int = 8192
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    attention_dropout: float = 0.0
    initializer_range: float = 0.02

    @classmethod
    def from_config(cls, config: Any) -> "LlamaArch":
        """From a transformers ``LlamaConfig`` (v5's ``rope_parameters``, or ``rope_theta`` and
        ``rope_scaling`` as older configs spell them). Unsupported settings are a ValueError."""
        act = getattr(config, "hidden_act", "silu")
        if act != "silu":
            raise ValueError(f"hidden_act {act!r} is not supported; Llama uses 'silu'")
        rope = getattr(config, "rope_parameters", None)
        if not rope:
            rope = {
                "rope_theta": getattr(config, "rope_theta", 10000.0),
                **(getattr(config, "rope_scaling", None) or {}),
            }
        rope = dict(rope)
        rope_type = rope.get("rope_type", rope.get("type", "default"))
        if rope_type not in ("default", "llama3"):
            raise ValueError(f"rope_type {rope_type!r} is not supported; supported: 'default', 'llama3'")
        if rope.get("partial_rotary_factor", 1.0) != 1.0:
            raise ValueError(f"partial_rotary_factor {rope['partial_rotary_factor']!r} is not supported (Llama: 1.0)")
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        if heads % kv_heads:
            raise ValueError(f"num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}")
        llama3 = {}
        if rope_type == "llama3":
            llama3 = {
                "rope_factor": float(rope["factor"]),
                "rope_low_freq_factor": float(rope["low_freq_factor"]),
                "rope_high_freq_factor": float(rope["high_freq_factor"]),
                "rope_original_max_position_embeddings": int(rope["original_max_position_embeddings"]),
            }
        return cls(
            vocab_size=config.vocab_size,
            hidden_size=config.hidden_size,
            intermediate_size=config.intermediate_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=heads,
            num_key_value_heads=kv_heads,
            head_dim=getattr(config, "head_dim", None) or config.hidden_size // heads,
            rms_norm_eps=float(config.rms_norm_eps),
            rope_theta=float(rope["rope_theta"]),
            rope_type=rope_type,
            tie_word_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
            attention_bias=bool(getattr(config, "attention_bias", False)),
            mlp_bias=bool(getattr(config, "mlp_bias", False)),
            attention_dropout=float(getattr(config, "attention_dropout", 0.0) or 0.0),
            initializer_range=float(getattr(config, "initializer_range", 0.02)),
            **llama3,
        )


def rope_inv_freq(arch: LlamaArch) -> np.ndarray:
    """The RoPE inverse frequencies, bit for bit those transformers' ``ROPE_INIT_FUNCTIONS``
    (``compute_default_rope_parameters``, ``_compute_llama3_parameters``) compute in torch
    float32: its ``scalar ** tensor`` rounds a float64 power, and ``scalar / tensor`` is the
    tensor's float32 reciprocal times the scalar. The attention scaling is 1.0 for both types."""
    f32 = np.float32
    dim = arch.head_dim
    exponent = np.arange(0, dim, 2, dtype=np.int64).astype(f32) / f32(dim)
    inv_freq = f32(1.0) / np.power(np.float64(arch.rope_theta), exponent.astype(np.float64)).astype(f32)
    if arch.rope_type == "default":
        return inv_freq

    def rdiv(scalar: float, array: np.ndarray) -> np.ndarray:  # torch's ``scalar / tensor``
        return (f32(1.0) / array) * f32(scalar)

    factor = f32(arch.rope_factor)
    low, high = arch.rope_low_freq_factor, arch.rope_high_freq_factor
    old_context_len = arch.rope_original_max_position_embeddings
    low_freq_wavelen = old_context_len / low  # python floats, as in transformers
    high_freq_wavelen = old_context_len / high
    wavelen = rdiv(2 * math.pi, inv_freq)
    inv_freq_llama = np.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth_factor = (rdiv(old_context_len, wavelen) - f32(low)) / f32(high - low)
    smoothed = (f32(1.0) - smooth_factor) * inv_freq_llama / factor + smooth_factor * inv_freq_llama
    is_medium = ~(wavelen < high_freq_wavelen) & ~(wavelen > low_freq_wavelen)
    return np.where(is_medium, smoothed, inv_freq_llama).astype(f32)


def _rotate_half(x: jax.Array) -> jax.Array:
    half = x.shape[-1] // 2
    return jnp.concatenate([-x[..., half:], x[..., :half]], axis=-1)


class LlamaRMSNorm(nn.Module):
    size: int
    eps: float
    param_dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        scale = self.param("scale", nn.initializers.ones, (self.size,), self.param_dtype)
        # transformers normalizes in float32 and casts back before the scale
        h = x.astype(jnp.float32)
        h = h * jax.lax.rsqrt(jnp.mean(h * h, axis=-1, keepdims=True) + self.eps)
        return scale * h.astype(x.dtype)


def _dense(features: int, bias: bool, arch: LlamaArch, param_dtype: Any, name: str) -> nn.Dense:
    return nn.Dense(
        features,
        use_bias=bias,
        param_dtype=param_dtype,
        kernel_init=nn.initializers.normal(arch.initializer_range),
        name=name,
    )


class LlamaAttention(nn.Module):
    arch: LlamaArch
    param_dtype: Any = jnp.float32

    def setup(self) -> None:
        a, pd = self.arch, self.param_dtype
        d = a.head_dim
        self.q_proj = _dense(a.num_attention_heads * d, a.attention_bias, a, pd, "q_proj")
        self.k_proj = _dense(a.num_key_value_heads * d, a.attention_bias, a, pd, "k_proj")
        self.v_proj = _dense(a.num_key_value_heads * d, a.attention_bias, a, pd, "v_proj")
        self.o_proj = _dense(a.hidden_size, a.attention_bias, a, pd, "o_proj")
        self.dropout = nn.Dropout(a.attention_dropout)

    def __call__(self, x: jax.Array, cos: jax.Array, sin: jax.Array, mask: jax.Array, train: bool) -> jax.Array:
        a = self.arch
        b, s, _ = x.shape
        q = self.q_proj(x).reshape(b, s, a.num_attention_heads, a.head_dim)
        k = self.k_proj(x).reshape(b, s, a.num_key_value_heads, a.head_dim)
        v = self.v_proj(x).reshape(b, s, a.num_key_value_heads, a.head_dim)
        cos, sin = cos[:, :, None, :], sin[:, :, None, :]
        q = q * cos + _rotate_half(q) * sin
        k = k * cos + _rotate_half(k) * sin
        groups = a.num_attention_heads // a.num_key_value_heads
        # repeat_kv: query head h reads key/value head h // groups
        k = jnp.repeat(k, groups, axis=2)
        v = jnp.repeat(v, groups, axis=2)
        scores = jnp.einsum("bqhd,bkhd->bhqk", q, k) * jnp.asarray(a.head_dim**-0.5, q.dtype)
        scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
        probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(q.dtype)
        # a query with no visible key attends to nothing (SDPA's zero output, not NaN or a mean)
        probs = jnp.where(jnp.any(mask, axis=-1, keepdims=True), probs, jnp.zeros((), probs.dtype))
        probs = self.dropout(probs, deterministic=not train)
        out = jnp.einsum("bhqk,bkhd->bqhd", probs, v).reshape(b, s, a.num_attention_heads * a.head_dim)
        return self.o_proj(out)


class LlamaMLP(nn.Module):
    arch: LlamaArch
    param_dtype: Any = jnp.float32

    def setup(self) -> None:
        a, pd = self.arch, self.param_dtype
        self.gate_proj = _dense(a.intermediate_size, a.mlp_bias, a, pd, "gate_proj")
        self.up_proj = _dense(a.intermediate_size, a.mlp_bias, a, pd, "up_proj")
        self.down_proj = _dense(a.hidden_size, a.mlp_bias, a, pd, "down_proj")

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    arch: LlamaArch
    param_dtype: Any = jnp.float32

    def setup(self) -> None:
        a, pd = self.arch, self.param_dtype
        self.self_attn = LlamaAttention(a, pd)
        self.mlp = LlamaMLP(a, pd)
        self.input_layernorm = LlamaRMSNorm(a.hidden_size, a.rms_norm_eps, pd)
        self.post_attention_layernorm = LlamaRMSNorm(a.hidden_size, a.rms_norm_eps, pd)

    def __call__(self, x: jax.Array, cos: jax.Array, sin: jax.Array, mask: jax.Array, train: bool) -> jax.Array:
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask, train)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Module):
    arch: LlamaArch
    param_dtype: Any = jnp.float32

    def setup(self) -> None:
        a, pd = self.arch, self.param_dtype
        self.embed_tokens = nn.Embed(
            a.vocab_size, a.hidden_size, param_dtype=pd, embedding_init=nn.initializers.normal(a.initializer_range)
        )
        self.layers = [LlamaDecoderLayer(a, pd) for _ in range(a.num_hidden_layers)]  # layers_0, layers_1, ...
        self.norm = LlamaRMSNorm(a.hidden_size, a.rms_norm_eps, pd)

    def __call__(
        self, input_ids: jax.Array, attention_mask: jax.Array | None, position_ids: jax.Array | None, train: bool
    ) -> jax.Array:
        b, s = input_ids.shape
        x = self.embed_tokens(input_ids)
        if position_ids is None:
            position_ids = jnp.broadcast_to(jnp.arange(s), (b, s))
        # RoPE angles in float32, cos/sin cast to the activation dtype (transformers' rotary_emb)
        freqs = position_ids[..., None].astype(jnp.float32) * jnp.asarray(rope_inv_freq(self.arch))
        emb = jnp.concatenate([freqs, freqs], axis=-1)
        cos, sin = jnp.cos(emb).astype(x.dtype), jnp.sin(emb).astype(x.dtype)
        idx = jnp.arange(s)
        mask = (idx[:, None] >= idx[None, :])[None, None]  # (1, 1, q, k), causal by index
        if attention_mask is not None:
            mask = mask & (attention_mask != 0)[:, None, None, :]
        for layer in self.layers:
            x = layer(x, cos, sin, mask, train)
        return self.norm(x)


class LlamaForCausalLM(nn.Module):
    """``apply(variables, input_ids=..., attention_mask=..., position_ids=...)`` ->
    ``{"logits": (batch, seq, vocab)}``."""

    arch: LlamaArch
    param_dtype: Any = jnp.float32

    @classmethod
    def from_config(cls, config: Any, *, param_dtype: Any = jnp.float32) -> "LlamaForCausalLM":
        """The module for a transformers ``LlamaConfig``; ``param_dtype`` is the dtype ``init``
        creates (converted weights bring their own)."""
        return cls(LlamaArch.from_config(config), param_dtype)

    def setup(self) -> None:
        a = self.arch
        self.model = LlamaModel(a, self.param_dtype)
        if not a.tie_word_embeddings:
            self.lm_head = _dense(a.vocab_size, False, a, self.param_dtype, "lm_head")

    def __call__(
        self,
        input_ids: jax.Array,
        attention_mask: jax.Array | None = None,
        position_ids: jax.Array | None = None,
        use_cache: Any = False,
        train: bool = False,
    ) -> dict[str, jax.Array]:
        if use_cache is True:
            raise ValueError("use_cache=True: this JAX Llama has no KV cache; it returns full-sequence logits")
        h = self.model(input_ids, attention_mask, position_ids, train)
        logits = self.model.embed_tokens.attend(h) if self.arch.tie_word_embeddings else self.lm_head(h)
        return {"logits": logits}
