"""The three ways consumers get the package: installed, vendored at another path, and walked."""

from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

from helpers import REPO, run_python

# Dot folders (.git, a checkout's .venv) are not part of the package.
IGNORE = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "dist")


def _copy_tree(dest: Path) -> Path:
    shutil.copytree(REPO, dest, ignore=IGNORE)
    return dest


def _venv(path: Path) -> Path:
    """A new venv that sees the *running* environment's packages (setuptools, torch) through a
    ``.pth`` file, without a download. ``system_site_packages`` would give it the base
    interpreter's instead, which lack them when the suite runs from a virtualenv. The new venv's
    own site-packages comes first, so what is installed into it wins."""
    import site
    import sysconfig

    venv.EnvBuilder(with_pip=False).create(path)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    paths = sysconfig.get_paths()
    running = dict.fromkeys([paths["purelib"], paths["platlib"], *site.getsitepackages()])
    (Path(purelib) / "running_env.pth").write_text("".join(f"{p}\n" for p in running if Path(p).is_dir()))
    return python


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_installed(tmp_path, editable):
    src = _copy_tree(tmp_path / "src")
    python = _venv(tmp_path / "venv")
    cmd = [str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q"]
    cmd += ["-e", str(src)] if editable else [str(src)]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = run_python(
        """
        import tt_forge_models
        from tt_forge_models.resnet.pytorch import ModelLoader
        from tt_forge_models.inputs.vision import ASSETS
        assert (ASSETS / "chelsea.jpg").is_file(), "sample images ship with the package"
        assert (ASSETS / "speech.wav").is_file(), "and the sample recording"
        config = ModelLoader().get_variant_config()
        from pathlib import Path
        import tt_forge_models.resnet.pytorch.loader as loader
        assert (Path(loader.__file__).parent / config.weights.config_file).is_file(), "configs ship too"
        print(tt_forge_models.__file__)
        print(ModelLoader.get_model_info().name)
        """,
        python=str(python),
        cwd=tmp_path,
    ).stdout.split()
    where = Path(out[0]).resolve()
    expected_root = src.resolve() if editable else (tmp_path / "venv").resolve()
    assert expected_root in where.parents, where
    assert out[1].startswith("pytorch_resnet_")
    # The console script pyproject declares is installed and runs the CLI.
    script = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "tt-forge-models"), "list", "--model", "resnet"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert script.returncode == 0 and "resnet/pytorch-resnet50" in script.stdout, script.stderr


def test_vendored_under_another_package(tmp_path):
    _copy_tree(tmp_path / "third_party" / "tt_forge_models")
    (tmp_path / "third_party" / "__init__.py").write_text("")
    run_python(
        """
        import sys
        sys.path = [p for p in sys.path if "site-packages" in p or p.endswith(".zip") or "lib/python" in p]
        sys.path.insert(0, ".")
        from third_party.tt_forge_models.resnet.pytorch import ModelLoader, ModelVariant
        import third_party.tt_forge_models as pkg
        assert "tt_forge_models" not in sys.modules, "must not fall back to an installed copy"
        loader = ModelLoader(ModelVariant.RESNET_18)
        model = loader.load_model(weights="random")
        x = loader.load_inputs()
        assert loader.decode_output(model(x))[0][0]["label"]
        from third_party.tt_forge_models import list_variants
        assert any(e.id == "resnet/pytorch-resnet18" for e in list_variants())
        print(pkg.__file__)
        """,
        cwd=tmp_path,
        env={"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"},
    )


def test_walked_like_a_frontend_test_runner(tmp_path):
    root = _copy_tree(tmp_path / "tt_forge_models")
    run_python(
        f"""
        import importlib.util, sys
        from pathlib import Path
        sys.path = [p for p in sys.path if "site-packages" in p or "lib/python" in p]
        sys.path.insert(0, {str(tmp_path)!r})
        root = Path({str(root)!r})
        found, failed = [], []
        for path in sorted(root.rglob("*/pytorch/loader.py")):
            rel = path.relative_to(root).with_suffix("")
            name = "tt_forge_models." + ".".join(rel.parts)
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
                variants = list(module.ModelLoader.query_available_variants())
                assert variants and module.ModelVariant
                found.append(name)
            except Exception as err:
                failed.append((name, repr(err)))
        assert not failed, failed
        assert "tt_forge_models.resnet.pytorch.loader" in found
        import tt_forge_models
        assert Path(tt_forge_models.__file__).parent == root, tt_forge_models.__file__
        from tt_forge_models import list_variants
        assert {{e.model for e in list_variants()}} == {{n.split(".")[1] for n in found}}
        print(len(found))
        """,
        cwd=tmp_path,
        env={"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"},
    )
