"""The suite runs offline: no test may touch the network. Variables are set before any hub
library is imported, so their import-time constants see them."""

import os

os.environ.setdefault("TT_FORGE_MODELS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
