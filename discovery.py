"""Find every loader and variant by walking the package for ``<model>/<framework>/loader.py``.

Loader modules import only the standard library and this package's ``base``/``config`` at their
top, so listing everything costs milliseconds and imports no torch.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from .base import ForgeModel
from .config import Framework, ModelConfig, ModelGroup, ModelInfo, ModelSource, ModelTask

ROOT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class VariantEntry:
    """One (loader, variant): what a parametrized test or a listing needs."""

    model: str  # the model folder, relative to the package root, with "/" ("resnet")
    framework: str  # "pytorch"
    variant: str
    loader: type[ForgeModel]

    @property
    def id(self) -> str:
        """The test ID consumers use, e.g. ``resnet/pytorch-resnet50``."""
        return f"{self.model}/{self.framework}-{self.variant}"

    @property
    def config(self) -> ModelConfig:
        return self.loader._VARIANTS[self.loader._resolve_variant(self.variant)]

    @property
    def info(self) -> ModelInfo:
        return self.loader.get_model_info(self.variant)

    @property
    def is_default(self) -> bool:
        return str(self.loader.DEFAULT_VARIANT) == self.variant

    def make_loader(self) -> ForgeModel:
        return self.loader(self.variant)

    def to_dict(self) -> dict[str, Any]:
        config = self.config
        return {
            "id": self.id,
            "model": self.model,
            "framework": self.framework,
            "variant": self.variant,
            "default": self.is_default,
            "name": self.info.name,
            "task": str(config.task),
            "source": str(config.source),
            "group": str(config.group),
            "pretrained_model_name": config.pretrained_model_name,
            "num_params": config.num_params,
        }


def loader_paths(root: Path = ROOT) -> list[Path]:
    """Every ``<model>/<framework>/loader.py`` under ``root``, ``<framework>`` a ``Framework``
    value, sorted. Only that shape counts, so no folder needs skipping, and a checkout's ``.venv``
    or ``.git`` is never walked."""
    found = []
    for framework in Framework:
        for path in root.glob(f"*/{framework.value}/loader.py"):
            if not path.parent.parent.name.startswith((".", "_")):
                found.append(path)
    return sorted(found)


@lru_cache(maxsize=None)
def _loader_classes() -> tuple[tuple[str, str, type[ForgeModel]], ...]:
    package = __name__.rsplit(".", 1)[0]
    out = []
    for path in loader_paths():
        rel = path.relative_to(ROOT).with_suffix("")
        module = importlib.import_module(f"{package}." + ".".join(rel.parts))
        model = "/".join(rel.parts[:-2])
        out.append((model, rel.parts[-2], module.ModelLoader))
    return tuple(out)


def all_entries() -> list[VariantEntry]:
    return [
        VariantEntry(model, framework, str(variant), loader)
        for model, framework, loader in _loader_classes()
        for variant in loader._VARIANTS
    ]


def list_variants(
    *,
    model: str | Iterable[str] | None = None,
    task: str | Iterable[str] | None = None,
    source: str | Iterable[str] | None = None,
    group: str | Iterable[str] | None = None,
    framework: str | None = None,
    name: str | None = None,
    max_params: int | None = None,
) -> list[VariantEntry]:
    """Every variant, filtered. Strings compare to enum values; ``name`` is a glob on the ID.

    A filter that matches nothing known (an unknown model) raises ``ValueError`` listing the
    valid values, so a typo is not mistaken for an empty selection.
    """
    entries = all_entries()
    filters = {
        "model": (model, lambda e: e.model, {e.model for e in entries}),
        "task": (task, lambda e: str(e.config.task), {str(v) for v in ModelTask}),
        "source": (source, lambda e: str(e.config.source), {str(v) for v in ModelSource}),
        "group": (group, lambda e: str(e.config.group), {str(v) for v in ModelGroup}),
        "framework": (framework, lambda e: e.framework, {str(v) for v in Framework}),
    }
    for attr, (wanted, get, valid) in filters.items():
        if wanted is None:
            continue
        wanted_set = {str(wanted)} if isinstance(wanted, str) else {str(w) for w in wanted}
        unknown = wanted_set - valid
        if unknown:
            raise ValueError(f"unknown {attr} {', '.join(sorted(unknown))}; valid: {', '.join(sorted(valid))}")
        entries = [e for e in entries if get(e) in wanted_set]
    if name is not None:
        entries = [e for e in entries if fnmatch.fnmatch(e.id, name) or fnmatch.fnmatch(e.variant, name)]
    if max_params is not None:
        entries = [e for e in entries if e.config.num_params is not None and e.config.num_params <= max_params]
    return entries


def get_loader(model: str, framework: str = "pytorch") -> type[ForgeModel]:
    """The ``ModelLoader`` class of a model folder, e.g. ``get_loader("resnet")``."""
    for known_model, known_framework, loader in _loader_classes():
        if known_model == model and known_framework == framework:
            return loader
    valid = sorted({f"{m}" for m, f, _ in _loader_classes() if f == framework})
    raise ValueError(f"unknown model {model!r} for framework {framework!r}; valid: {', '.join(valid)}")
