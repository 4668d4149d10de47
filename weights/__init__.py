"""Where weights come from: the one policy every loader follows.

``load_model(weights=...)`` takes ``"pretrained"``, ``"random"``, ``"auto"`` or a local path. When
it is ``None``, ``TT_FORGE_MODELS_WEIGHTS`` sets the default, and failing that ``"auto"``.

- pretrained: the source's own mechanism at the pinned version (a :class:`WeightsSource` does it).
  Offline (``TT_FORGE_MODELS_OFFLINE=1``, ``HF_HUB_OFFLINE=1`` for hub sources, or the host not
  answering within seconds) only the local caches are read, and a miss raises :class:`WeightsUnavailableError`
  naming the variant, the source and the remedy.
- random: the exact architecture from a config shipped here, seeded, no hub.
- auto: pretrained when it can be had, else random with one :class:`WeightsFallbackWarning`.

A local path may be a weights file, a Hugging Face ``save_pretrained`` folder, or a folder written by
:func:`write_export_folder` (``tt-forge-models export``), whose ``config.json`` names the model and
variant it holds.

The package, by module:

- :mod:`.policy`: the ``weights=`` choices, every environment variable and the one offline rule;
- :mod:`.source`: :class:`WeightsSource` and :func:`load_with_policy`;
- :mod:`.files`: the one state-dict I/O path, sha256 checks, verified downloads, the atomic writer;
- :mod:`.export`: export folders;
- :mod:`.hf_folder`: a Hugging Face folder's safetensors (one file or an index of shards), read
  without transformers;
- one source per origin: :mod:`.huggingface`, :mod:`.diffusers` (a diffusers model in a subfolder
  of a hub repository), :mod:`.torchvision`, :mod:`.timm`, :mod:`.constructed` (our own code;
  Darknet's lives in ``darknet/``), and :func:`.sources.source_for`, which picks one
  for a variant row;
- :mod:`.materialize` (meta build, allocation in the target dtype, one init pass) and
  :mod:`.memory` (the memory guard).

This file and the four policy modules import only the standard library.
"""

from __future__ import annotations

from .export import (
    EXPORT_CONFIG,
    EXPORT_FORMAT,
    EXPORT_FORMAT_VERSION,
    EXPORT_WEIGHTS,
    check_export_folder,
    export_record,
    write_export_folder,
)
from .files import (
    DOWNLOAD_TIMEOUT_S,
    atomic_write,
    atomic_write_folder,
    check_sha256,
    check_state_dict_keys,
    download_verified,
    file_sha256,
    read_state_dict,
    remove_stale_temporaries,
    save_safetensors,
)
from .policy import (
    CHOICES,
    OFFLINE_ENV,
    WEIGHTS_ENV,
    hub_endpoint,
    hub_offline,
    is_offline,
    network_available,
    offline_reason,
    offline_switch_on,
    package_folder,
    parse_endpoint,
    resolve_choice,
)
from .source import (
    LoadedWeights,
    WeightsSource,
    load_with_policy,
)

__all__ = [
    "CHOICES",
    "DOWNLOAD_TIMEOUT_S",
    "EXPORT_CONFIG",
    "EXPORT_FORMAT",
    "EXPORT_FORMAT_VERSION",
    "EXPORT_WEIGHTS",
    "LoadedWeights",
    "OFFLINE_ENV",
    "WEIGHTS_ENV",
    "WeightsSource",
    "atomic_write",
    "atomic_write_folder",
    "check_export_folder",
    "check_sha256",
    "check_state_dict_keys",
    "download_verified",
    "export_record",
    "file_sha256",
    "hub_endpoint",
    "hub_offline",
    "is_offline",
    "load_with_policy",
    "network_available",
    "offline_reason",
    "offline_switch_on",
    "package_folder",
    "parse_endpoint",
    "read_state_dict",
    "remove_stale_temporaries",
    "resolve_choice",
    "save_safetensors",
    "write_export_folder",
]
