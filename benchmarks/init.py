"""Random-init cost of any variant: time against the RNG floor, peak memory against model bytes.

    python benchmarks/init.py resnet resnet50 --dtype bf16 fp32
    python benchmarks/init.py bert large_squad2 --dtype bf16

Each measurement runs in a fresh interpreter. Peak RSS growth is VmHWM (reset just before the
build through /proc/self/clear_refs) minus VmRSS before it. The floor is one ``normal_`` over
as many values as the model has parameters, in the same dtype. ``--baseline`` also measures the
plain framework route: build in fp32 with the framework's own init, then cast.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

from rss import PRELUDE

CHILD = textwrap.dedent(
    """
    import json, sys, time, torch
    torch.set_num_threads({threads})
    from tt_forge_models import get_loader
    {prelude}

    loader = get_loader({model!r})({variant!r})
    dtype = getattr(torch, {dtype!r})
    meta = loader.load_model(device="meta")
    n = sum(p.numel() for p in meta.parameters())
    mode = {mode!r}
    if mode == "floor":
        build = lambda: torch.empty(n, dtype=dtype).normal_()
    elif mode == "loader":
        build = lambda: loader.load_model(weights="random", dtype_override=dtype)
    else:  # the plain framework route: full fp32 build with its own init, then a cast
        source = loader.source
        build = lambda: source.construct().to(dtype)
    import gc; gc.collect()
    before = status("VmRSS:")
    reset_peak()
    start, cpu_start = time.perf_counter(), time.process_time()
    obj = build()
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = status("VmHWM:")
    print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_growth": peak - before,
                      "params": n, "model_bytes": n * dtype.itemsize}}))
    """
)


def measure(model: str, variant: str, dtype: str, mode: str, threads: int) -> dict:
    code = CHILD.format(model=model, variant=variant, dtype=dtype, mode=mode, threads=threads, prelude=PRELUDE)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("variant")
    parser.add_argument("--dtype", nargs="+", default=["bfloat16"], choices=["float32", "bfloat16", "fp32", "bf16"])
    parser.add_argument("--baseline", action="store_true", help="also time the fp32-build-then-cast route")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    names = {"fp32": "float32", "bf16": "bfloat16"}
    print(f"{'variant':<24} {'dtype':<9} {'route':<9} {'seconds':>8} {'x floor':>8} {'peak RSS':>10} {'x model':>8}")
    for dtype in [names.get(d, d) for d in args.dtype]:
        modes = ["floor", "loader"] + (["baseline"] if args.baseline else [])
        best = {}
        for mode in modes:
            runs = [measure(args.model, args.variant, dtype, mode, args.threads) for _ in range(args.repeat)]
            best[mode] = {
                "seconds": min(r["seconds"] for r in runs),
                "peak_growth": min(r["peak_growth"] for r in runs),
                "model_bytes": runs[0]["model_bytes"],
            }
        floor = best["floor"]["seconds"]
        for mode in modes:
            r = best[mode]
            print(
                f"{args.variant:<24} {dtype:<9} {mode:<9} {r['seconds']:8.3f} {r['seconds'] / floor:8.2f} "
                f"{r['peak_growth'] / 2**20:8.1f}Mi {r['peak_growth'] / r['model_bytes']:8.2f}"
            )


if __name__ == "__main__":
    main()
