"""tt-xla's loader discovery (``tests/runner/utils/dynamic_loader.py``), re-written small for the
consumer tests: see ``test_consumers.py``. Imports only the standard library at module level, so
a fresh interpreter can use it on a vendored copy."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path


def import_loader_module(loader_path: Path, models_root: Path):
    """``DynamicLoader.import_loader_module``: spec name and ``__package__`` under
    ``tt_forge_models``, ``sys.modules`` key under ``tt-forge-models``."""
    rel = loader_path.relative_to(models_root).with_suffix("")
    package = "tt_forge_models." + ".".join(rel.parts[:-1])
    spec = importlib.util.spec_from_file_location(f"{package}.{rel.parts[-1]}", location=loader_path)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    sys.modules["tt-forge-models." + ".".join(rel.parts)] = module
    spec.loader.exec_module(module)
    return module


def discover(models_root: Path) -> list[tuple[str, object, type]]:
    """``TorchDynamicLoader.discover_loader_paths`` + ``get_model_variants``: (test id, variant,
    loader class) for ``ModelLoader`` and every ``ForgePrefillModel`` subclass of each module."""
    from tt_forge_models.base import ForgePrefillModel  # after the walk's sys.path set-up, as tt-xla does

    entries = []
    for root, dirs, files in os.walk(models_root):
        # A vendored submodule has no dot folders; a checkout's .git and .venv are skipped here.
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if os.path.basename(root) != "pytorch" or "loader.py" not in files:
            continue
        module = import_loader_module(Path(root) / "loader.py", models_root)
        classes = [module.ModelLoader] + [
            attr
            for attr in (getattr(module, name) for name in dir(module))
            if isinstance(attr, type)
            and issubclass(attr, ForgePrefillModel)
            and attr not in (ForgePrefillModel, module.ModelLoader)
            and attr.__module__ == module.__name__
        ]
        rel = os.path.relpath(root, models_root)
        for cls in classes:
            entries.extend((f"{rel}-{variant}", variant, cls) for variant in cls.query_available_variants())
    return entries
