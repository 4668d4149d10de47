"""Every loading cost in one table: local file, Hugging Face folder and random init, each as a
ratio to its bare baseline measured in the same run.

    python benchmarks/loading.py                      # ResNet-152, BERT-large QA, Llama-3.2-1B
    python benchmarks/loading.py --case bert:large_squad2 --repeat 5

- ``file``: ``load_model(weights=<model.safetensors>)`` against ``safetensors.torch.load_file``
  plus ``load_state_dict(assign=True)`` onto the same meta-built model (``local_load.py``); the
  ``vs bare_built`` rows compare with the same bare load that also builds its module on meta with
  the framework's own constructor, as a from-scratch user must.
- ``folder``: ``load_model(weights=<save_pretrained folder>)`` against the same bare load of the
  same tensors (Hugging Face rows only; torchvision models have no such folder).
- ``random``: ``load_model(weights="random")`` against one ``normal_`` over as many values in the
  same dtype (``init.py``).

Each measurement runs in a fresh interpreter; the routes are interleaved and every figure is the
median of ``--repeat`` runs. The CPU-time ratio (``time.process_time``, all threads) is the one
to read on a machine that other work keeps busy: wall time there depends on who else runs.
Peak RSS growth is over the model's bytes. The weights are written
under ``--tmp`` (``/dev/shm`` where there is one): in memory, so every route reads the same
resident pages, rather than a disk whose page cache other work on the machine evicts. A Hugging
Face row writes its folder once, and its ``model.safetensors`` is also the file that the ``file``
and bare routes load.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import init  # noqa: E402  (the harnesses beside this file)
import local_load  # noqa: E402

DEFAULT_CASES = ["resnet:resnet152", "bert:large_squad2", "llama:llama_3_2_1b"]

PREPARE = """
import torch, safetensors.torch
from tt_forge_models import get_loader
model = get_loader({model!r})({variant!r}).load_model(weights="random", dtype_override=getattr(torch, {dtype!r}))
if hasattr(model, "save_pretrained"):
    model.save_pretrained({folder!r})
else:
    safetensors.torch.save_model(model, {folder!r} + "/model.safetensors")
"""


def _median(runs: list[dict]) -> dict:
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
        "peak_x_model": statistics.median(r["peak_growth"] / r["model_bytes"] for r in runs),
    }


def _row(case: str, form: str, dtype: str, base: list[dict], ours: list[dict]) -> dict:
    b, o = _median(base), _median(ours)
    return {
        "case": case,
        "form": form,
        "dtype": dtype,
        "base_s": b["seconds"],
        "ours_s": o["seconds"],
        "ratio": o["seconds"] / b["seconds"],
        "cpu_ratio": o["cpu_seconds"] / b["cpu_seconds"],
        "base_peak": b["peak_x_model"],
        "ours_peak": o["peak_x_model"],
        "runs": len(ours),
    }


def _print(row: dict) -> None:
    print(
        f"| {row['case']} | {row['form']} | {row['dtype']} | {row['base_s']:.3f} | {row['ours_s']:.3f} "
        f"| {row['ratio']:.2f}x | {row['cpu_ratio']:.2f}x | {row['base_peak']:.2f}x, {row['ours_peak']:.2f}x |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", help="model:variant (default: %s)" % ", ".join(DEFAULT_CASES))
    parser.add_argument("--form", nargs="+", choices=["file", "folder", "random"], default=["file", "folder", "random"])
    parser.add_argument("--dtype", default="float32", help="dtype of the file and folder loads")
    parser.add_argument("--init-dtype", nargs="+", default=["float32", "bfloat16"], help="dtypes of random init")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is kept")
    # One thread by default: on a busy machine a second OpenMP thread spin-waits for a core, which
    # made a bare load of ResNet-152 10x slower here and its time a measure of the neighbours.
    parser.add_argument("--threads", type=int, default=1)
    shm = Path("/dev/shm")
    parser.add_argument("--tmp", default=str(shm) if shm.is_dir() else None, help="where the weights are written")
    args = parser.parse_args()
    print(
        "| case | form | dtype | bare s | ours s | time ratio | CPU-time ratio | peak RSS / model bytes (bare, ours) |"
    )
    print("|---|---|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        for case in args.case or DEFAULT_CASES:
            model, variant = case.split(":")
            folder = Path(tmp) / variant
            file = folder / "model.safetensors"
            forms = [f for f in args.form if f in ("file", "folder")]
            if forms:
                folder.mkdir()
                local_load._run(PREPARE.format(model=model, variant=variant, dtype=args.dtype, folder=str(folder)))
                if not (folder / "config.json").is_file():  # not a Hugging Face row: no folder form
                    forms = [f for f in forms if f != "folder"]
                wheres = {"file": file, "folder": folder}
                base, built, ours = [], [], {f: [] for f in forms}
                for _ in range(args.repeat):  # interleaved: a burst of load elsewhere hits every route
                    base.append(local_load.measure(model, variant, args.dtype, "bare", str(file), args.threads))
                    built.append(local_load.measure(model, variant, args.dtype, "bare_built", str(file), args.threads))
                    for form in forms:
                        ours[form].append(
                            local_load.measure(model, variant, args.dtype, "loader", str(wheres[form]), args.threads)
                        )
                for form in forms:
                    _print(_row(case, form, args.dtype, base, ours[form]))
                    _print(_row(case, f"{form} vs bare_built", args.dtype, built, ours[form]))
                shutil.rmtree(folder)
            if "random" in args.form:
                for dtype in args.init_dtype:
                    floor, ours_init = [], []
                    for _ in range(args.repeat):
                        floor.append(init.measure(model, variant, dtype, "floor", args.threads))
                        ours_init.append(init.measure(model, variant, dtype, "loader", args.threads))
                    _print(_row(case, "random", dtype, floor, ours_init))


if __name__ == "__main__":
    main()
