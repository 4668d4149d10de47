"""Golden fingerprints: what every variant outputs for seeded random weights and its sample inputs.

A fingerprint holds, per output tensor, the shape, dtype, robust statistics and a fixed sample of
values, in small JSON files under ``goldens/<model>/``. They are computed in fp32 at the depth and
input size the suite runs (``test.num_layers``, ``test.input_size``), offline, so a dependency
upgrade that changes numerics is caught and named. After an intended change, regenerate them and
read the diff:

    python -m tt_forge_models.testing.golden --update [--model resnet]
    git diff goldens/
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any, Sequence

from ..discovery import VariantEntry, list_variants
from . import reduced_input_kwargs, reduced_kwargs

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "goldens"
SAMPLES = 16
# Tolerances for a golden check: loose enough for kernel and thread-count differences between
# CPUs, tight enough that a real numerics change (a new init, a different op) shows.
RTOL = 2e-3
ATOL_OF_STD = 2e-3


def golden_path(entry: VariantEntry) -> Path:
    """The variant's golden file. A JAX or ONNX variant has the PyTorch variant's: the same weights
    and inputs must give the same outputs in every framework."""
    return GOLDEN_DIR / entry.model / f"pytorch-{entry.variant}.json"


def golden_outputs(entry: VariantEntry) -> Any:
    """fp32 outputs of the reduced instance with seed-0 random weights on its sample inputs."""
    import warnings

    import torch

    from ..errors import PreprocessorFallbackWarning

    loader = entry.make_loader()
    model = loader.load_model(weights="random", seed=0, dtype_override=torch.float32, **reduced_kwargs(entry))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreprocessorFallbackWarning)
        inputs = loader.load_inputs(dtype_override=torch.float32, batch_size=1, **reduced_input_kwargs(entry))
    with torch.no_grad():
        return loader.call_model(model, inputs)


def _round(x: float) -> float | str:
    if math.isnan(x) or math.isinf(x):
        return str(x)
    return float(f"{x:.7g}")


def fingerprint(outputs: Any) -> dict[str, Any]:
    import torch

    from . import flatten_outputs

    leaves = []
    for path, tensor in flatten_outputs(outputs):
        t = tensor.detach().reshape(-1).to(torch.float64)
        n = t.numel()
        index = sorted({round(i * (n - 1) / (SAMPLES - 1)) for i in range(SAMPLES)}) if n else []
        stats = {
            "mean": float(t.mean()) if n else 0.0,
            "std": float(t.std()) if n > 1 else 0.0,
            "min": float(t.min()) if n else 0.0,
            "max": float(t.max()) if n else 0.0,
            "median": float(t.median()) if n else 0.0,
            "abs_mean": float(t.abs().mean()) if n else 0.0,
        }
        leaves.append(
            {
                "path": path,
                "shape": list(tensor.shape),
                "dtype": str(tensor.dtype).removeprefix("torch."),
                "stats": {k: _round(v) for k, v in stats.items()},
                "sample_index": index,
                "sample": [_round(float(t[i])) for i in index],
            }
        )
    return {"leaves": leaves}


def diff(golden: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What moved, one line each; empty when the fingerprints agree within tolerance."""
    problems = []
    g_paths = [leaf["path"] for leaf in golden["leaves"]]
    a_paths = [leaf["path"] for leaf in actual["leaves"]]
    if g_paths != a_paths:
        return [f"outputs changed: golden {g_paths}, now {a_paths}"]
    for g, a in zip(golden["leaves"], actual["leaves"]):
        where = g["path"] or "<output>"
        for key in ("shape", "dtype", "sample_index"):
            if g[key] != a[key]:
                problems.append(f"{where}: {key} {g[key]} -> {a[key]}")
        if problems:
            continue
        std = g["stats"]["std"] if isinstance(g["stats"]["std"], float) else 1.0
        atol = ATOL_OF_STD * std + 1e-6
        pairs = [(f"stats.{k}", g["stats"][k], a["stats"][k]) for k in g["stats"]]
        pairs += [(f"sample[{i}]", gv, av) for i, gv, av in zip(g["sample_index"], g["sample"], a["sample"])]
        for name, gv, av in pairs:
            if isinstance(gv, str) or isinstance(av, str):
                if gv != av:
                    problems.append(f"{where}: {name} {gv} -> {av}")
            elif abs(gv - av) > atol + RTOL * abs(gv):
                problems.append(f"{where}: {name} {gv:.7g} -> {av:.7g}")
    return problems


def matched_paths(golden_paths: Any, actual_paths: list[str]) -> list[str]:
    """The golden path each of another framework's outputs stands for: its own path, except that a
    lone unnamed output (a bare array) is the golden's ``logits``."""
    golden_paths = set(golden_paths)
    if len(actual_paths) == 1 and actual_paths[0] not in golden_paths and "logits" in golden_paths:
        return ["logits"]
    return list(actual_paths)


def diff_outputs(golden: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """:func:`diff` on the outputs another framework returns, which may be fewer than PyTorch's
    (logits without the key-value cache): each actual leaf against the golden leaf of its path; a
    lone unnamed output (a bare array) against the golden's ``logits``."""
    by_path = {leaf["path"]: leaf for leaf in golden["leaves"]}
    paths = matched_paths(by_path, [leaf["path"] for leaf in actual["leaves"]])
    leaves = [{**leaf, "path": path} for leaf, path in zip(actual["leaves"], paths)]
    missing = [leaf["path"] for leaf in leaves if leaf["path"] not in by_path]
    if missing:
        return [f"outputs {missing} are not in the golden ({sorted(by_path)})"]
    return diff({"leaves": [by_path[leaf["path"]] for leaf in leaves]}, {"leaves": leaves})


def write(entry: VariantEntry, data: dict[str, Any]) -> Path:
    path = golden_path(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    reduced = {**reduced_kwargs(entry), **reduced_input_kwargs(entry)}
    record = {"id": entry.id, "weights": "random seed 0", "dtype": "float32", **reduced, **data}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(path)
    return path


def load(entry: VariantEntry) -> dict[str, Any] | None:
    path = golden_path(entry)
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tt_forge_models.golden", description=__doc__.splitlines()[0])
    parser.add_argument("--update", action="store_true", help="rewrite the golden files (default: check)")
    parser.add_argument("--model", action="append", help="only these model folders")
    parser.add_argument("--name", help="glob on the variant ID")
    args = parser.parse_args(argv)
    import torch

    torch.manual_seed(0)  # nothing here should draw from it; set in case a library does
    failures = 0
    for entry in list_variants(model=args.model, name=args.name, framework="pytorch"):
        data = fingerprint(golden_outputs(entry))
        if args.update:
            print(f"wrote {write(entry, data)}")
            continue
        stored = load(entry)
        problems = ["no golden file"] if stored is None else diff(stored, data)
        failures += bool(problems)
        print(f"{'ok  ' if not problems else 'FAIL'} {entry.id}")
        for line in problems:
            print(f"     {line}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
