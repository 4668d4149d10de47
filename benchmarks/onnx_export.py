"""ONNX export times, cold and cached, and onnxruntime's parity with PyTorch, per variant.

    python benchmarks/onnx_export.py                      # every distinct architecture, reduced
    python benchmarks/onnx_export.py --model resnet --name 'resnet1*'
    python benchmarks/onnx_export.py --every-variant --threads 1 --json

Each variant is exported into a fresh cache (random weights, seed 0, fp32, the reduced instance
the suite runs), then loaded again by a new loader: ``cold`` is the first ``load_model`` (the
PyTorch build, the export, the checker, the write), ``cached`` the second (key, sha256 checks,
load, checker). ``cpu`` is the process CPU time of the cold load, what one core spends. Parity is
onnxruntime against the PyTorch model at batch 1 (minimum PCC and maximum absolute difference
over the outputs). Everything runs in one process, after a warm-up export of a small module, so
the first variant pays no one-time exporter start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path


def warm_up() -> None:
    import torch

    from tt_forge_models.frameworks.onnx_loader import export_onnx

    export_onnx(torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()).eval(), torch.ones(2, 4))


def measure(entry, cache: Path, threads: int | None) -> dict:
    import torch

    from tt_forge_models.frameworks.onnx_loader import run_onnxruntime
    from tt_forge_models.testing import compare, flatten_outputs, reduced_input_kwargs, reduced_kwargs

    build = {**reduced_kwargs(entry), **reduced_input_kwargs(entry)}
    loader = entry.make_loader()
    start, cpu = time.perf_counter(), time.process_time()
    model = loader.load_model(weights="random", seed=0, dtype_override=torch.float32, cache_dir=cache, **build)
    cold, cold_cpu = time.perf_counter() - start, time.process_time() - cpu
    again = entry.make_loader()
    start = time.perf_counter()
    again.load_model(weights="random", seed=0, dtype_override=torch.float32, cache_dir=cache, **build)
    cached = time.perf_counter() - start
    assert again.export_status == "loaded from cache", again.export_status

    outputs = run_onnxruntime(model, loader.load_inputs(), threads=threads)
    torch_loader = loader.TORCH_LOADER(entry.variant)
    torch_model = torch_loader.load_model(
        weights="random", seed=0, dtype_override=torch.float32, **reduced_kwargs(entry)
    )
    inputs = torch_loader.load_inputs(dtype_override=torch.float32, **reduced_input_kwargs(entry))
    with torch.no_grad():
        expected = [t for _, t in flatten_outputs(torch_loader.call_model(torch_model, inputs))]
    report = compare(expected, [torch.from_numpy(o) for o in outputs], pcc=0.9999)
    return {
        "id": entry.id,
        "cold_s": round(cold, 2),
        "cold_cpu_s": round(cold_cpu, 2),
        "cached_s": round(cached, 3),
        "speedup": round(cold / cached, 1),
        "graph_mb": round(loader.onnx_path.stat().st_size / 1e6, 1),
        "outputs": len(outputs),
        "min_pcc": round(report.min_pcc, 7),
        "max_abs_diff": float(f"{max(leaf.max_abs_diff for leaf in report.leaves):.3g}"),
        "passed": report.passed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", help="only these model folders")
    parser.add_argument("--name", help="glob on the variant or its ID")
    parser.add_argument("--every-variant", action="store_true", help="every variant, not one per architecture")
    parser.add_argument("--threads", type=int, help="torch and onnxruntime threads (1: one core)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)

    import torch

    from tt_forge_models.errors import CacheRebuildWarning
    from tt_forge_models.testing import all_variants, distinct_architectures

    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    warnings.simplefilter("always", CacheRebuildWarning)  # a cached load that re-exports says why
    params = all_variants(framework="onnx", model=args.model, name=args.name)
    entries = [p.values[0] for p in (params if args.every_variant else distinct_architectures(params))]
    warm_up()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        for entry in entries:
            row = measure(entry, Path(cache), args.threads)
            rows.append(row)
            if args.json:
                print(json.dumps(row), flush=True)
            else:
                print(
                    f"{row['id']:<44} cold {row['cold_s']:7.2f} s (cpu {row['cold_cpu_s']:7.2f} s)  cached "
                    f"{row['cached_s']:6.3f} s  x{row['speedup']:<6} {row['graph_mb']:7.1f} MB  "
                    f"pcc {row['min_pcc']:.7f}  max|d| {row['max_abs_diff']:.3g}",
                    flush=True,
                )
    if not args.json:
        total, passed = sum(r["cold_cpu_s"] for r in rows), all(r["passed"] for r in rows)
        print(f"{len(rows)} exports, {total:.1f} s of CPU cold; every parity check passed: {passed}")
    return 0 if all(r["passed"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
