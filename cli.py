"""``python -m tt_forge_models``: the zoo from a shell.

Errors are one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", action="append", help="model folder, e.g. resnet (repeatable)")
    parser.add_argument("--task", action="append", help="task, e.g. cv_image_cls (repeatable)")
    parser.add_argument("--source", action="append", help="source, e.g. torchvision (repeatable)")
    parser.add_argument("--group", action="append", help="group: red, priority, generality")
    parser.add_argument("--name", help="glob on the variant ID or name, e.g. 'resnet/*50*'")


def _selected(args: argparse.Namespace) -> list:
    from .discovery import list_variants

    return list_variants(model=args.model, task=args.task, source=args.source, group=args.group, name=args.name)


def _format_params(n: int | None) -> str:
    if n is None:
        return "?"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def cmd_list(args: argparse.Namespace) -> int:
    entries = _selected(args)
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    rows = [("ID", "TASK", "SOURCE", "GROUP", "PARAMS")]
    for e in entries:
        c = e.config
        rows.append((e.id + (" *" if e.is_default else ""), str(c.task), str(c.source), str(c.group), _format_params(c.num_params)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"\n{len(entries)} variants (* marks each model's default)")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    import time

    from .discovery import get_loader

    loader = get_loader(args.model)(args.variant)
    timings = {}
    start = time.perf_counter()
    model = loader.load_model(dtype_override=args.dtype, weights=args.weights)
    timings["load"] = time.perf_counter() - start
    start = time.perf_counter()
    inputs = loader.load_inputs(dtype_override=args.dtype, batch_size=args.batch_size)
    timings["inputs"] = time.perf_counter() - start
    import torch

    start = time.perf_counter()
    with torch.no_grad():
        outputs = loader.call_model(model, inputs)
    timings["forward"] = time.perf_counter() - start
    decoded = loader.decode_output(outputs)
    print(f"{loader.get_model_info().name}  weights: {loader.weights_source}")
    print(json.dumps(decoded, indent=2, default=str))
    print("  ".join(f"{step} {seconds:.3f}s" for step, seconds in timings.items()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tt-forge-models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser("list", help="every model and variant with task, source, group and size")
    _add_filters(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)
    p = commands.add_parser("run", help="load a variant, run it on its sample input, print the decoded output")
    p.add_argument("model", help="model folder, e.g. resnet")
    p.add_argument("--variant", help="variant name (default: the model's default)")
    p.add_argument("--dtype", help="fp32, bf16 or fp16 (default: the model's own)")
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--weights", help="auto (default), pretrained, random or a local path")
    p.set_defaults(func=cmd_run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError, MemoryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
