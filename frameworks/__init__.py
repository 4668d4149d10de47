"""Loaders in frameworks beside PyTorch (JAX, ONNX), built on the PyTorch loader of the same family.

A JAX or ONNX loader reuses its family's PyTorch variant table, weights policy and sample inputs
(:class:`~.companion.CompanionLoader`), so every framework sees the same weights and the same
inputs and can be checked against one golden. Only the standard library is imported here:
listing stays free of jax, flax, onnx and onnxruntime.
"""
