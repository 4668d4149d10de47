"""Loading local weights: ``load_model(weights=<file or folder>)`` against the bare framework load.

    python benchmarks/local_load.py                       # ResNet-152, BERT-large, Llama-3.2-1B
    python benchmarks/local_load.py --case bert:large_squad2 --form folder

The weights are seed-0 random ones written once into a temporary folder: ``file`` is one
``model.safetensors``, ``folder`` a ``save_pretrained``-style folder (Hugging Face rows) or the
loader's own ``export``. Each measurement runs in a fresh interpreter and touches every tensor
(a sum), so lazily mapped files are really read. The bare load is
``safetensors.torch.load_file`` plus ``load_state_dict(assign=True)`` onto the same meta-built
model (``bare_built`` also times building that model with the framework's own constructor on
meta, as a user loading a file from scratch must). Peak RSS growth is VmHWM (reset before the
load) minus VmRSS before it, over the model's bytes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from rss import PRELUDE

DEFAULT_CASES = ["resnet:resnet152", "bert:large_squad2", "llama:llama_3_2_1b"]

PREPARE = textwrap.dedent(
    """
    import torch, safetensors.torch
    from tt_forge_models import get_loader
    loader = get_loader({model!r})({variant!r})
    model = loader.load_model(weights="random", dtype_override=getattr(torch, {dtype!r}))
    state = {{k: v.contiguous() for k, v in model.state_dict().items()}}
    # Tied tensors are stored once, under the first name, as save_pretrained does.
    seen, unique = set(), {{}}
    for name, tensor in state.items():
        if tensor.data_ptr() not in seen:
            seen.add(tensor.data_ptr())
            unique[name] = tensor
    safetensors.torch.save_file(unique, {file!r})
    if hasattr(model, "save_pretrained"):
        model.save_pretrained({folder!r})
    """
)

CHILD = textwrap.dedent(
    """
    import gc, json, time, torch
    torch.set_num_threads({threads})
    from tt_forge_models import get_loader
    {prelude}

    loader = get_loader({model!r})({variant!r})
    dtype = getattr(torch, {dtype!r})
    mode, where = {mode!r}, {where!r}
    if mode == "bare":
        import safetensors.torch
        skeleton = loader.load_model(device="meta", dtype_override=dtype)

        def load():
            state = safetensors.torch.load_file(where)
            skeleton.load_state_dict(state, assign=True, strict=False)
            if hasattr(skeleton, "tie_weights"):
                skeleton.tie_weights()
            return skeleton
    elif mode == "bare_built":
        # The bare load as a user writes it from scratch: the framework builds the module itself
        # (its own constructor, on meta), then the file is assigned onto it.
        import safetensors.torch
        loader.load_model(device="meta", dtype_override=dtype)  # the same imports, untimed

        def load():
            with torch.device("meta"):
                skeleton = loader.source.construct()
            state = safetensors.torch.load_file(where)
            skeleton.load_state_dict(state, assign=True, strict=False)
            if hasattr(skeleton, "tie_weights"):
                skeleton.tie_weights()
            return skeleton
    else:
        loader.load_model(device="meta", dtype_override=dtype)  # the same imports as the bare route, untimed

        def load():
            return loader.load_model(weights=where, dtype_override=dtype)
    gc.collect()
    before = status("VmRSS:")
    reset_peak()
    start, cpu_start = time.perf_counter(), time.process_time()
    model = load()
    total = sum(float(t.float().sum()) for t in model.state_dict().values() if t.is_floating_point())
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = status("VmHWM:")
    n = sum(p.numel() for p in model.parameters())
    print(json.dumps({{"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_growth": peak - before,
                      "model_bytes": n * dtype.itemsize, "source": getattr(loader, "weights_source", None),
                      "checksum": total}}))
    """
)


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    return proc.stdout


def measure(model: str, variant: str, dtype: str, mode: str, where: str, threads: int) -> dict:
    code = CHILD.format(
        model=model, variant=variant, dtype=dtype, mode=mode, where=where, threads=threads, prelude=PRELUDE
    )
    return json.loads(_run(code).strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="model:variant (default: %s)" % ", ".join(DEFAULT_CASES))
    parser.add_argument("--form", choices=["file", "folder"], nargs="+", default=["file", "folder"])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best is kept")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in args.case or DEFAULT_CASES:
            model, variant = case.split(":")
            file, folder = Path(tmp) / f"{variant}.safetensors", Path(tmp) / variant
            _run(PREPARE.format(model=model, variant=variant, dtype=args.dtype, file=str(file), folder=str(folder)))
            best = lambda mode, where: min(  # noqa: E731
                (measure(model, variant, args.dtype, mode, where, args.threads) for _ in range(args.repeat)),
                key=lambda r: r["seconds"],
            )
            bare = best("bare", str(file))
            for form in args.form:
                where = file if form == "file" else folder
                if not where.exists():
                    continue
                ours = best("loader", str(where))
                rows.append(
                    {
                        "case": case,
                        "form": form,
                        "dtype": args.dtype,
                        "source": ours["source"],
                        "bare_s": round(bare["seconds"], 3),
                        "ours_s": round(ours["seconds"], 3),
                        "time_ratio": round(ours["seconds"] / bare["seconds"], 2),
                        "bare_peak_x_model": round(bare["peak_growth"] / bare["model_bytes"], 2),
                        "ours_peak_x_model": round(ours["peak_growth"] / ours["model_bytes"], 2),
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
    print("\n| case | form | bare s | ours s | time ratio | peak RSS / model bytes (bare, ours) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['form']} | {r['bare_s']} | {r['ours_s']} | {r['time_ratio']}x "
            f"| {r['bare_peak_x_model']}x, {r['ours_peak_x_model']}x |"
        )


if __name__ == "__main__":
    main()
