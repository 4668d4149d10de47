"""BERT in JAX (Flax linen): our own modules, weights converted from the PyTorch loader's."""
