"""The JAX loaders against PyTorch: PCC and max abs difference per variant, and the round trip.

    python benchmarks/jax_parity.py                 # every JAX variant's reduced instance (fp32)
    python benchmarks/jax_parity.py --model llama --json

Each variant's reduced instance (the suite's: seed-0 random weights, ``test.num_layers``) runs in
JAX and is compared with the PyTorch golden outputs on the same inputs (``testing/parity.py``):
PCC and max abs difference per output, and whether every output passes (PCC >= 0.9999, allclose
at rtol 1e-4 with a floor of 1e-4 of the largest output). ``round_trip`` is whether PyTorch ->
Flax -> PyTorch gives identical tensors. Variants whose reduced build exceeds ``--max-params``
(default 400M) are left out and listed.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings


def measure(entry) -> dict:
    import numpy as np

    from tt_forge_models.frameworks.flax_weights import flax_to_torch, state_dict_to_numpy, torch_to_flax
    from tt_forge_models.frameworks.jax_loader import to_torch
    from tt_forge_models.testing import parity, reduced_kwargs

    start = time.perf_counter()
    expected, _ = parity.golden_and_loader(entry)
    loader, _, out = parity.jax_outputs(entry)
    report = parity.report(expected, to_torch(out))
    torch_model = loader.torch_loader.load_model(weights="random", seed=0, **reduced_kwargs(entry))
    rules, skip = loader.conversion(torch_model)
    state = state_dict_to_numpy(torch_model)
    back = flax_to_torch(torch_to_flax(state, rules, skip=skip), rules)
    identical = all(np.array_equal(back[k], state[k]) for k in back)
    return {
        "id": entry.id,
        "passed": report.passed,
        "outputs": {leaf.path or "<output>": [leaf.pcc, leaf.max_abs_diff] for leaf in report.leaves},
        "round_trip": identical,
        "tensors": len(back),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append")
    parser.add_argument("--max-params", type=int, default=400_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from tt_forge_models import list_variants

    warnings.simplefilter("ignore")
    rows, skipped = [], []
    for entry in list_variants(model=args.model, framework="jax"):
        test = entry.config.test
        size = test.num_params or (entry.config.num_params if test.num_layers is None else 0)
        if size > args.max_params:
            skipped.append(entry.id)
            continue
        row = measure(entry)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            outs = "  ".join(f"{p} pcc={v[0]:.7f} max_abs={v[1]:.2e}" for p, v in row["outputs"].items())
            verdict = "ok  " if row["passed"] and row["round_trip"] else "FAIL"
            print(f"{verdict} {row['id']:<40} {outs}  round_trip={row['round_trip']} ({row['tensors']} tensors)")
    if skipped and not args.json:
        print(f"left out (reduced build over {args.max_params:,} parameters): {', '.join(skipped)}")
    return 0 if all(r["passed"] and r["round_trip"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
