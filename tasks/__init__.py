"""Loader bases per task: what every family of a task shares (inputs, decoding, generation,
multi-device layouts). A family's loader is its variant table and the few lines its architecture
needs on top. Only the standard library is imported at module level."""
