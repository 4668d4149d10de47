"""BERT-large QA random init in bf16 against the RNG floor, and its peak RSS growth.

    PYTHONPATH=<folder holding tt_forge_models> python benchmarks/bert_init.py [--repeat 3]

Every measurement runs in a fresh interpreter. The floor is one ``normal_`` over as many bf16
values as the model has parameters. Peak RSS growth is VmHWM (reset through
/proc/self/clear_refs just before the build) minus VmRSS before it, over the model's bytes; the
model code is imported before the baseline is taken, so only the build is counted. ``--baseline``
adds the plain transformers route for reference: ``from_config`` in fp32 with its own init.
Targets: time at most 1.15x the floor, peak RSS growth at most 1.1x the model's bytes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, json, time, torch, transformers
    torch.set_num_threads({threads})
    from tt_forge_models.bert import ModelLoader

    def status(key):
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    loader = ModelLoader({variant!r})
    dtype = getattr(torch, {dtype!r})
    n = sum(p.numel() for p in loader.load_model(device="meta").parameters())
    builds = {{
        "floor": lambda: torch.empty(n, dtype=dtype).normal_(),
        "loader": lambda: loader.load_model(weights="random", dtype_override=dtype),
        "from_config": lambda: transformers.AutoModelForQuestionAnswering.from_config(loader.load_config()),
    }}
    build = builds[{mode!r}]
    gc.collect()
    before = status("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = time.perf_counter()
    built = build()
    seconds = time.perf_counter() - start
    peak = status("VmHWM:")
    print(json.dumps({{"seconds": seconds, "peak_growth": peak - before, "model_bytes": n * dtype.itemsize}}))
    """
)


def measure(variant: str, dtype: str, mode: str, threads: int) -> dict:
    code = CHILD.format(variant=variant, dtype=dtype, mode=mode, threads=threads)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"{mode} measurement failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="large_squad2")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--baseline", action="store_true", help="also time transformers from_config in fp32")
    args = parser.parse_args()
    modes = [("floor", "bfloat16"), ("loader", "bfloat16")] + ([("from_config", "float32")] if args.baseline else [])
    runs: dict[str, list[dict]] = {mode: [] for mode, _ in modes}
    # Rounds interleave the routes, so load from other processes hits them alike.
    for _ in range(args.repeat):
        for mode, dtype in modes:
            runs[mode].append(measure(args.variant, dtype, mode, args.threads))
    best = {mode: {"seconds": min(r["seconds"] for r in got), "peak_growth": min(r["peak_growth"] for r in got),
                   "model_bytes": got[0]["model_bytes"]} for mode, got in runs.items()}
    floor = best["floor"]["seconds"]
    print(f"{'route':<12} {'dtype':<9} {'seconds':>8} {'x floor':>8} {'peak RSS':>10} {'x model':>8}")
    for mode, dtype in modes:
        r = best[mode]
        print(f"{mode:<12} {dtype:<9} {r['seconds']:8.3f} {r['seconds'] / floor:8.2f} "
              f"{r['peak_growth'] / 2**20:8.1f}Mi {r['peak_growth'] / r['model_bytes']:8.2f}")
    loader = best["loader"]
    print(f"\n{args.variant} bf16 random init: {loader['seconds'] / floor:.2f}x the RNG floor (target 1.15x), "
          f"peak RSS growth {loader['peak_growth'] / loader['model_bytes']:.2f}x the model's bytes (target 1.1x)")


if __name__ == "__main__":
    main()
