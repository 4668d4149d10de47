"""Discovery and listing: every loader found, IDs as consumers expect, and no torch imported."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tt_forge_models import get_loader, list_variants
from tt_forge_models.testing import all_variants

from helpers import run_python

HEAVY = (
    "torch",
    "transformers",
    "timm",
    "torchvision",
    "diffusers",
    "jax",
    "flax",
    "onnx",
    "onnxruntime",
    "onnxscript",
)


def test_listing_imports_no_heavy_library():
    proc = run_python(
        f"""
        import sys, time
        start = time.perf_counter()
        import tt_forge_models
        from tt_forge_models import list_variants
        from tt_forge_models.testing import all_variants
        entries = list_variants()
        for e in entries:
            e.info.name, e.config.num_params
        elapsed = time.perf_counter() - start
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        assert not heavy, heavy
        print(len(entries), elapsed)
        """
    )
    count, _ = proc.stdout.split()
    assert int(count) == len(list_variants())


def test_ids_and_filters():
    entries = list_variants()
    assert "resnet/pytorch-resnet50" in {e.id for e in entries}
    assert all(e.id == f"{e.model}/{e.framework}-{e.variant}" for e in entries)
    resnets = list_variants(model="resnet")
    assert resnets and all(e.model == "resnet" for e in resnets)
    assert {str(e.config.source) for e in list_variants(model="resnet", source="timm")} == {"timm"}
    assert all(e.config.num_params <= 30_000_000 for e in list_variants(max_params=30_000_000))
    assert [e.variant for e in list_variants(name="resnet/pytorch-resnet1*")] == ["resnet18", "resnet101", "resnet152"]
    # Every framework's loaders are listed; ``framework`` filters.
    assert {e.framework for e in entries} >= {"pytorch", "jax"}
    jax_resnets = list_variants(model="resnet", framework="jax")
    assert "resnet/jax-resnet50" in {e.id for e in jax_resnets} and all(e.framework == "jax" for e in jax_resnets)
    assert {e.variant for e in jax_resnets} <= {e.variant for e in list_variants(model="resnet", framework="pytorch")}
    with pytest.raises(ValueError, match="pytorch"):
        list_variants(framework="tensorflow")
    with pytest.raises(ValueError, match="valid"):
        list_variants(model="no_such_model")
    with pytest.raises(ValueError, match="cv_image_cls"):
        list_variants(task="cv_image_klassification")


def test_all_variants_are_pytest_params_with_consumer_ids():
    params = all_variants(model="resnet")
    assert [p.id for p in params] == [e.id for e in list_variants(model="resnet")]
    big = all_variants(model="resnet", large_params=30_000_000)
    marked = {p.id for p in big if any(m.name == "large" for m in p.marks)}
    assert "resnet/pytorch-resnet152" in marked and "resnet/pytorch-resnet18" not in marked


def test_get_loader():
    from tt_forge_models.resnet.pytorch import ModelLoader

    assert get_loader("resnet") is ModelLoader
    with pytest.raises(ValueError, match="resnet"):
        get_loader("resnett")


def test_cli_list_text_and_json():
    text = subprocess.run(
        [sys.executable, "-m", "tt_forge_models", "list", "--model", "resnet"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "resnet/pytorch-resnet50" in text and "cv_image_cls" in text and "25.6M" in text
    out = subprocess.run(
        [sys.executable, "-m", "tt_forge_models", "list", "--json"], capture_output=True, text=True, check=True
    ).stdout
    rows = json.loads(out)
    assert {r["id"] for r in rows} == {e.id for e in list_variants()}
    row = next(r for r in rows if r["id"] == "resnet/pytorch-resnet18")
    assert row["num_params"] == 11_689_512 and row["task"] == "cv_image_cls" and row["source"] == "torchvision"


def test_cli_error_is_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "tt_forge_models", "list", "--model", "nope"], capture_output=True, text=True
    )
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "nope" in proc.stderr and "Traceback" not in proc.stderr


def test_only_model_framework_loader_paths_count(tmp_path):
    """<model>/<framework value>/loader.py and nothing else: a checkout's .venv is never walked,
    and no skip list is needed."""
    from tt_forge_models.discovery import loader_paths

    for rel in (
        "good/pytorch/loader.py",
        "other/jax/loader.py",
        ".venv/pkg/pytorch/loader.py",
        "_private/pytorch/loader.py",
        "deep/er/pytorch/loader.py",
        "bad/notaframework/loader.py",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("")
    found = [p.relative_to(tmp_path).as_posix() for p in loader_paths(tmp_path)]
    assert found == ["good/pytorch/loader.py", "other/jax/loader.py"]
