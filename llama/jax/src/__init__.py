"""Flax linen code of the JAX Llama (imports jax and flax: load it through ``..loader`` only)."""
