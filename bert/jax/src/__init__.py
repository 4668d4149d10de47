"""Flax linen BERT (:mod:`.model`) and its PyTorch <-> Flax conversion rules (:mod:`.convert`)."""
