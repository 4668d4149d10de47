"""``python -m tt_forge_models`` (or ``tt-forge-models``): the zoo from a shell.

Commands: list, info, run, bench, prefetch, export, train; ``COMMAND --help`` describes each.
Errors are one line on stderr and a non-zero exit, never a traceback; warnings are one line too.
``list`` imports no torch: every command imports torch inside itself, only when it needs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from typing import Any, Sequence

# Exit statuses: 1 for a failure while working, 2 for a command line that cannot be run.
EXIT_FAILURE = 1
EXIT_USAGE = 2
DEBUG_ENV = "TT_FORGE_MODELS_DEBUG"


class UsageError(ValueError):
    """The command line asks for something that cannot be done."""


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line, like every other error of the command."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        _err(f"error: {message} (see `{self.prog} --help`)")
        sys.exit(EXIT_USAGE)


def _err(line: str) -> None:
    """Write one line to stderr without tearing a progress bar."""
    if "tqdm" in sys.modules:
        from tqdm import tqdm

        tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def _show_warning(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    """Replaces ``warnings.showwarning``: a user needs the message, not our file, line and source."""
    _err("warning: " + " ".join(str(message).split()))


# ---- argument types (checked before torch is imported) -------------------------------------------


def _dtype(name: str) -> str:
    from ..inputs.dtypes import canonical_dtype_name

    try:
        return canonical_dtype_name(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_count = _int_at_least(0)


# ---- selection -----------------------------------------------------------------------------------


FRAMEWORKS = ("pytorch", "jax", "onnx")


def _add_framework(parser: argparse.ArgumentParser, default: str | None) -> None:
    where = "every framework" if default is None else default
    parser.add_argument(
        "--framework", choices=FRAMEWORKS, default=default, help=f"pytorch, jax or onnx (default: {where})"
    )


def _add_filters(
    parser: argparse.ArgumentParser, *, positional_models: bool = False, framework: str | None = "pytorch"
) -> None:
    if positional_models:
        parser.add_argument("models", nargs="*", metavar="MODEL", help="model folders, e.g. resnet (default: all)")
        parser.add_argument("--variant", action="append", help="variant name, e.g. resnet18 (repeatable; default: all)")
    parser.add_argument("--model", action="append", help="model folder, e.g. resnet (repeatable)")
    parser.add_argument("--task", action="append", help="task, e.g. cv_image_cls (repeatable)")
    parser.add_argument("--source", action="append", help="source, e.g. torchvision (repeatable)")
    parser.add_argument("--group", action="append", help="group: red, priority, generality (repeatable)")
    parser.add_argument("--name", help="glob on the variant ID or name, e.g. 'resnet/*50*'")
    _add_framework(parser, framework)


def _selected(args: argparse.Namespace) -> list:
    """The variants the filters (and positional models and --variant, where the command has them) pick."""
    from ..discovery import list_variants

    models = list(getattr(args, "models", None) or []) + list(args.model or [])
    try:
        entries = list_variants(
            model=models or None,
            task=args.task,
            source=args.source,
            group=args.group,
            name=args.name,
            framework=args.framework,
        )
    except ValueError as err:  # an unknown model, task, source or group
        raise UsageError(str(err)) from err
    wanted = getattr(args, "variant", None)
    if wanted:
        valid = list(dict.fromkeys(e.variant for e in entries))
        for variant in wanted:
            if variant not in valid:
                scope = ", ".join(models) if models else "the selection"
                raise UsageError(f"unknown variant {variant!r} for {scope}; valid: {', '.join(valid)}")
        entries = [e for e in entries if e.variant in wanted]
    return entries


def _one(model: str, variant: str | None, framework: str = "pytorch") -> Any:
    """The entry of one model's variant (its default when ``variant`` is None) in ``framework``."""
    from ..discovery import get_loader, list_variants

    try:
        name = str(get_loader(model, framework)._resolve_variant(variant))
    except ValueError as err:  # an unknown model or variant; the message lists the valid ones
        raise UsageError(str(err)) from err
    return next(e for e in list_variants(model=model, framework=framework) if e.variant == name)


def _format_params(n: int | None) -> str:
    if n is None:
        return "?"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# ---- list ----------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    entries = _selected(args)
    if args.json:
        _print_json([e.to_dict() for e in entries])
        return 0
    rows = [("ID", "TASK", "SOURCE", "GROUP", "PARAMS")]
    for e in entries:
        c = e.config
        rows.append(
            (
                e.id + (" *" if e.is_default else ""),
                str(c.task),
                str(c.source),
                str(c.group),
                _format_params(c.num_params),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"\n{len(entries)} variants (* marks each model's default)")
    return 0


# ---- info ----------------------------------------------------------------------------------------


def _input_spec(inputs: Any, model: Any) -> list[dict[str, Any]]:
    """Name, shape and dtype of each tensor the model is called with.

    Keyword inputs are named by their keys; positional ones by the parameters of
    ``model.forward`` they bind to (``x``, ``pixel_values``).
    """
    import inspect

    import torch
    from torch.utils._pytree import SequenceKey

    from ..inputs.tree import flatten, path_str

    try:
        params = [n for n in inspect.signature(model.forward).parameters if n not in ("args", "kwargs")]
    except (TypeError, ValueError):
        params = []
    # A bare tensor is the one positional argument, as call_model passes it.
    spec = []
    for (head, *rest), tensor in flatten((inputs,) if isinstance(inputs, torch.Tensor) else inputs):
        if isinstance(head, SequenceKey):
            name = params[head.idx] if head.idx < len(params) else f"arg{head.idx}"
        else:
            name = path_str((head,))
        shape, dtype = list(tensor.shape), str(tensor.dtype).removeprefix("torch.")
        spec.append({"name": path_str(tuple(rest), name), "shape": shape, "dtype": dtype})
    return spec


def _architecture(loader: Any) -> dict[str, Any] | None:
    config = loader.load_config()
    if config is None:
        return None
    to_dict = getattr(config, "to_dict", None)
    data = to_dict() if callable(to_dict) else dict(vars(config))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _dotted(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A row's nested records as ``weights.revision``-style keys, one line each."""
    out: list[tuple[str, Any]] = []
    for key, value in data.items():
        is_record = isinstance(value, dict) and key in ("weights", "inputs", "test")
        out += _dotted(value, f"{prefix}{key}.") if is_record else [(f"{prefix}{key}", value)]
    return out


def _array_spec(inputs: Any) -> list[dict[str, Any]]:
    """Name, shape and dtype of each array a JAX or ONNX model is called with."""
    named = inputs.items() if isinstance(inputs, dict) else [("input", inputs)]
    return [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype)} for k, v in named]


def cmd_info(args: argparse.Namespace) -> int:
    entry = _one(args.model, args.variant, args.framework)
    from ..weights.materialize import count_parameters
    from .flops import count_flops

    loader = entry.make_loader()
    # A JAX or ONNX variant is its PyTorch variant's network: counted there, on the meta device.
    torch_side = getattr(loader, "torch_loader", loader)
    meta = torch_side.load_model(device="meta", dtype_override=args.dtype)
    params = count_parameters(meta)
    inputs = loader.load_inputs(dtype_override=args.dtype, batch_size=args.batch_size)
    flops = count_flops(torch_side, batch_size=args.batch_size, dtype=args.dtype)
    source = loader.source
    info = {
        **entry.to_dict(),
        "num_params": params,
        "num_params_table": entry.config.num_params,
        "flops": flops.flops,
        "flops_method": flops.method,
        "flops_error": flops.error,
        "flops_batch_size": args.batch_size,
        "inputs": _input_spec(inputs, meta) if torch_side is loader else _array_spec(inputs),
        "weights": source.describe(),
        "weights_cached": bool(source.is_cached()),
        "config": entry.config.to_dict(),
        "architecture": _architecture(loader),
    }
    if args.json:
        _print_json(info)
        return 0
    print(f"{entry.id}{'  (default)' if entry.is_default else ''}")
    print(f"  name        {info['name']}")
    print(f"  task        {info['task']}    source {info['source']}    group {info['group']}")
    table = entry.config.num_params
    note = "" if table is None or table == params else f"  (table says {table:,})"
    print(f"  parameters  {params:,} ({_format_params(params)}){note}")
    where = f"batch {args.batch_size}" + (f", {args.dtype}" if args.dtype else "")
    how = f", counted on {flops.method}" if flops.method else ""
    print(f"  FLOPs       {flops} for one forward ({where}{how})")
    print("  inputs")
    for item in info["inputs"]:
        print(f"    {item['name']:<20} {str(item['shape']):<22} {item['dtype']}")
    cached = "cached here" if info["weights_cached"] else "not cached here (`tt-forge-models prefetch` fetches them)"
    print(f"  weights     {info['weights']}, {cached}")
    print("  config")
    for key, value in _dotted(info["config"]):
        if value not in (None, {}, []):
            print(f"    {key:<26} {value}")
    if info["architecture"]:
        print(f"  architecture ({len(info['architecture'])} fields; --json prints them)")
    return 0


# ---- run -----------------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from ..inputs.devices import move_to, resolve_device, synchronizer

    entry = _one(args.model, args.variant, args.framework)
    device = resolve_device(args.device)  # before the load, so a missing GPU fails at once
    if entry.framework != "pytorch" and device.type != "cpu":
        raise UsageError(f"--device {args.device}: {entry.framework} variants run on the CPU here; use --device cpu")
    sync = synchronizer(device)
    import torch

    loader = entry.make_loader()
    timings: dict[str, float] = {}

    def step(name: str, fn: Any) -> Any:
        start = time.perf_counter()
        result = fn()
        sync()
        timings[name] = time.perf_counter() - start
        return result

    model = step("load", lambda: loader.load_model(dtype_override=args.dtype, weights=args.weights))
    if device.type != "cpu":
        model = step("to_device", lambda: model.to(device))
    inputs = step("inputs", lambda: loader.load_inputs(dtype_override=args.dtype, batch_size=args.batch_size))
    if device.type != "cpu":
        inputs = move_to(inputs, device)
    with torch.no_grad():
        outputs = step("forward", lambda: loader.call_model(model, inputs))
    if loader.DECODE_GENERATES:  # the readable answer is generated (a transcript): the model decodes
        decoded = step("decode", lambda: loader.decode_output(outputs, model=model, inputs=inputs))
    else:
        decoded = step("decode", lambda: loader.decode_output(outputs))
    result = {
        "id": entry.id,
        "name": entry.info.name,
        "weights": loader.weights_source,
        "device": str(device),
        "dtype": loader.model_dtype(model),
        "batch_size": args.batch_size,
        "timings_s": timings,
        "output": decoded,
    }
    if args.json:
        _print_json(result)
        return 0
    print(f"{entry.id}  ({result['name']})")
    print(f"weights: {result['weights']}")
    print(f"device: {result['device']}  dtype: {result['dtype']}  batch size: {args.batch_size}")
    print("output:")
    print(_render(decoded))
    print("time: " + "  ".join(f"{name} {seconds:.3f}s" for name, seconds in timings.items()))
    return 0


def _render(decoded: Any) -> str:
    """decode_output for a person: one line per sample when it is a list per sample, else JSON."""
    if isinstance(decoded, list) and decoded and all(isinstance(x, (list, str, dict)) for x in decoded):
        return "\n".join(f"  [{i}] {_compact(x)}" for i, x in enumerate(decoded))
    return json.dumps(decoded, indent=2, default=str)


def _compact(item: Any) -> str:
    if isinstance(item, list):
        return "; ".join(_compact(x) for x in item)
    if isinstance(item, dict):
        parts = [str(item["label"])] if "label" in item else []
        for key, value in item.items():
            if key != "label":
                parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        return " ".join(parts)
    return str(item)


# ---- bench ---------------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from . import bench

    entries = _selected(args)
    if not entries:
        raise UsageError("no variant matches the selection; see `tt-forge-models list`")
    if args.overhead:
        return _bench_overhead(args, entries)
    options = bench.BenchOptions(
        dtypes=args.dtype or ("float32",),
        batch_sizes=args.batch_size or (1,),
        modes=args.mode or ("eager",),
        backend=args.backend,
        device=args.device,
        weights=args.weights,
        warmup=args.warmup,
        iters=args.iters,
        threads=args.threads,
    )
    from ..inputs.devices import resolve_device

    resolve_device(args.device)  # a missing GPU is an error before anything loads
    jsonl = None
    if args.jsonl:
        os.makedirs(os.path.dirname(os.path.abspath(args.jsonl)), exist_ok=True)
        jsonl = open(args.jsonl, "w")

    def on_record(record: dict) -> None:
        line = json.dumps(record)
        if jsonl is not None:
            jsonl.write(line + "\n")
            jsonl.flush()  # a long run's finished cases survive an interruption
        if args.json:
            print(line, flush=True)

    try:
        records = bench.run_benchmark(entries, options, progress=not args.no_progress, on_record=on_record)
    finally:
        if jsonl is not None:
            jsonl.close()
    if not args.json:
        print(bench.markdown_table(records))
    if args.plot:
        path = bench.plot_throughput(records, args.plot)
        _err(f"plot written to {path}")
    failed = [r for r in records if r["status"] != "ok"]
    if failed:
        _err(
            f"error: {len(failed)} of {len(records)} cases failed; "
            f"first: {failed[0]['id']} {failed[0]['mode']}: {failed[0]['error']}"
        )
        return EXIT_FAILURE
    return 0


def _bench_overhead(args: argparse.Namespace, entries: list) -> int:
    from . import bench

    results = []
    for entry in entries:
        for dtype in args.dtype or ("float32",):
            for batch_size in args.batch_size or (1,):
                results.append(
                    bench.measure_overhead(
                        entry,
                        dtype=dtype,
                        batch_size=batch_size,
                        device=args.device,
                        weights=args.weights,
                        calls=args.iters,
                        rounds=args.rounds,
                        threads=args.threads,
                    )
                )
    if args.json:
        for result in results:
            print(json.dumps(result))
        return 0
    for r in results:
        low, high = r["overhead_pct_range"]
        print(
            f"{r['id']} {r['dtype']} batch {r['batch_size']} on {r['device']} "
            f"({r['threads']} thread{'s' if r['threads'] != 1 else ''}): "
            f"{r['rounds']} interleaved rounds of {r['calls_per_round']} calls"
        )
        print(f"  bare loop     {r['bare_call_s'] * 1e3:10.3f} ms per call (fastest round)")
        print(f"  harness loop  {r['harness_call_s'] * 1e3:10.3f} ms per call (fastest round)")
        print(
            f"  overhead      {r['overhead_pct']:+.3f}% (median of paired rounds; the rounds range "
            f"{low:+.2f}% .. {high:+.2f}%, which is this machine's noise)"
        )
        print(
            f"  fixed cost    {r['fixed_cost_per_call_s'] * 1e6:.3f} us per call, measured on nn.Identity = "
            f"{r['fixed_cost_pct']:.4f}% of this model's call: the harness's own cost"
        )
    return 0


# ---- prefetch ------------------------------------------------------------------------------------


def _verify_sha256(entry: Any, source: Any) -> str | None:
    """Check the declared sha256 of a downloaded file, where the variant declares one."""
    from ..weights import check_sha256

    # Torchvision and URL weights records pin their file's sha256; hub records pin a commit instead.
    expected = getattr(entry.config.weights, "sha256", None)
    cache_file = getattr(source, "cache_file", None)
    if not expected or not callable(cache_file):
        return None
    check_sha256(cache_file(), expected, what=f"{entry.id}'s table")
    return "sha256 verified"


def cmd_prefetch(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    entries = _selected(args)
    if not entries:
        raise UsageError("no variant matches the selection; see `tt-forge-models list`")
    failures: list[str] = []
    counts = {"fetched": 0, "cached": 0}
    bar = tqdm(entries, desc="prefetch", unit="variant", file=sys.stderr, disable=args.no_progress)
    for entry in bar:
        bar.set_postfix_str(entry.id)
        source = entry.make_loader().source
        what = source.describe()
        if source.is_cached():
            counts["cached"] += 1
            _err(f"{entry.id}: already cached, skipped ({what})")
            continue
        offline = source.offline_reason()
        if offline is not None:
            failures.append(f"{entry.id}: offline ({offline})")
            _err(f"{entry.id}: cannot download {what}: offline ({offline})")
            continue
        try:
            source.prefetch()
            verified = _verify_sha256(entry, source)
        except Exception as err:  # any download failure: report it, go on with the others
            from ..errors import one_line

            failures.append(f"{entry.id}: {one_line(err)}")
            _err(f"{entry.id}: failed: {one_line(err)}")
            continue
        counts["fetched"] += 1
        _err(f"{entry.id}: fetched {what}" + (f", {verified}" if verified else ""))
    bar.close()
    print(f"{counts['fetched']} fetched, {counts['cached']} already cached, {len(failures)} failed")
    if failures:
        offline = all("offline" in f for f in failures)
        hint = (
            " Without network this machine can only use caches filled elsewhere: run prefetch where the "
            "hosts answer and copy the caches (HF_HOME, TORCH_HOME) here."
            if offline
            else ""
        )
        _err(
            f"error: {len(failures)} of {len(entries)} variants could not be prefetched: {failures[0]}"
            f"{f' (and {len(failures) - 1} more)' if len(failures) > 1 else ''}.{hint}"
        )
        return EXIT_FAILURE
    return 0


# ---- export --------------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    entry = _one(args.model, args.variant)
    out = Path(args.out).expanduser()
    if out.exists() and not args.force and not (out.is_dir() and not any(out.iterdir())):
        # Checked again when writing; here it saves loading a model only to refuse.
        raise UsageError(f"{str(out)!r} already exists; choose another folder or pass --force to replace it")
    from ..weights import write_export_folder
    from ..weights.materialize import count_parameters

    loader = entry.make_loader()
    model = loader.load_model(dtype_override=args.dtype, weights=args.weights)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), None)
    record = {
        "id": entry.id,
        "model": entry.model,
        "variant": entry.variant,
        "source": str(entry.config.source),
        "dtype": str(dtype).removeprefix("torch.") if dtype is not None else None,
        "num_params": count_parameters(model),
        "weights": loader.weights_source,
    }
    out = write_export_folder(model, out, record, force=args.force)
    size = sum(p.stat().st_size for p in out.iterdir() if p.is_file())
    files = ", ".join(sorted(p.name for p in out.iterdir()))
    print(f"wrote {out} ({files}; {size / 2**20:.1f} MiB; {record['dtype']}, weights: {record['weights']})")
    print(
        f"load it with: ModelLoader({entry.variant!r}).load_model(weights={str(out)!r}) "
        f"or `tt-forge-models run {entry.model} --variant {entry.variant} --weights {out}`"
    )
    return 0


# ---- train ---------------------------------------------------------------------------------------


def _probability(text: str) -> float:
    from ..tasks.training import check_dropout

    try:
        return check_dropout(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a float in [0, 1], got {text!r}") from None


def _positive_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def cmd_train(args: argparse.Namespace) -> int:
    from ..tasks import training

    entry = _one(args.model, args.variant)
    if args.num_layers is not None and entry.config.test.num_layers is None:
        raise UsageError(f"{entry.id} takes no --num-layers: only the transformer families cut their depth")
    loader = entry.make_loader()
    try:
        objective = training.objective(loader)
    except ValueError as err:  # a task without a loss here
        raise UsageError(f"{entry.id}: {err}") from err
    from tqdm import tqdm

    depth = {} if args.num_layers is None else {"num_layers": args.num_layers}
    start = time.perf_counter()
    model = loader.load_model(
        weights=args.weights, dtype_override=args.dtype, seed=args.seed, dropout=args.dropout, **depth
    )
    inputs = loader.load_inputs(dtype_override=args.dtype, batch_size=args.batch_size)
    load_s = time.perf_counter() - start
    dtype = str(next((p.dtype for p in model.parameters() if p.is_floating_point()), "")).removeprefix("torch.")
    if not args.json:
        print(f"{entry.id}  ({entry.config.task}): {objective.description}")
        print(
            f"weights: {loader.weights_source}  dtype: {dtype}  batch size: {args.batch_size}  "
            f"AdamW lr {args.lr:g}  dropout {args.dropout:g}" + (f"  layers {args.num_layers}" if depth else "")
        )
    bar = tqdm(total=args.steps, desc="train", unit="step", file=sys.stderr, disable=args.no_progress)

    def on_step(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix_str(f"loss {loss:.4f}")
        if not args.json:
            tqdm.write(f"step {step}/{args.steps} loss {loss:.4f}", file=sys.stdout)

    start = time.perf_counter()
    try:
        losses = training.train(loader, model, inputs, steps=args.steps, lr=args.lr, seed=args.seed, on_step=on_step)
    finally:
        bar.close()
    train_s = time.perf_counter() - start
    first, last = losses[0], losses[-1]
    if args.json:
        _print_json(
            {
                "id": entry.id,
                "name": entry.info.name,
                "task": str(entry.config.task),
                "objective": objective.description,
                "weights": loader.weights_source,
                "dtype": dtype,
                "batch_size": args.batch_size,
                "num_layers": args.num_layers,
                "optimizer": "AdamW",
                "lr": args.lr,
                "dropout": args.dropout,
                "seed": args.seed,
                "steps": args.steps,
                "losses": losses,
                "first_loss": first,
                "last_loss": last,
                "timings_s": {"load": load_s, "train": train_s},
            }
        )
        return 0
    trend = "down" if last < first else "not down"
    print(
        f"loss {first:.4f} -> {last:.4f} over {args.steps} steps ({trend}); "
        f"load {load_s:.1f}s, train {train_s:.1f}s ({train_s / args.steps:.2f}s per step)"
    )
    return 0


# ---- parser --------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from .bench import DEFAULT_BACKEND, MODES

    parser = _Parser(prog="tt-forge-models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    p = commands.add_parser(
        "list",
        help="every model and variant with task, source, group and size",
        description="Every model and variant with task, source, group and parameter count. Imports no torch.",
    )
    _add_filters(p, framework=None)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_list)

    def single(p: argparse.ArgumentParser, *, frameworks: bool = False) -> None:
        p.add_argument("model", help="model folder, e.g. resnet")
        p.add_argument("--variant", help="variant name (default: the model's default)")
        if frameworks:
            _add_framework(p, "pytorch")

    p = commands.add_parser(
        "info",
        help="config, parameters, FLOPs, inputs and weights of one variant",
        description="The config, parameter count, FLOPs of one forward (counted on the meta "
        "device: no weights are allocated), input spec, and where the pretrained "
        "weights come from and whether they are cached here.",
    )
    single(p, frameworks=True)
    p.add_argument("--batch-size", type=_positive_int, default=1, help="batch of the input spec and FLOPs (default 1)")
    p.add_argument("--dtype", type=_dtype, help="fp32, bf16 or fp16 (default: the model's own)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)

    p = commands.add_parser(
        "run",
        help="load a variant, run it on its sample input, print the decoded output",
        description="Load a variant, build its sample inputs, run one forward pass and print "
        "decode_output, where the weights came from and the time of each step.",
    )
    single(p, frameworks=True)
    p.add_argument("--dtype", type=_dtype, help="fp32, bf16 or fp16 (default: the model's own)")
    p.add_argument("--batch-size", type=_positive_int, default=1)
    p.add_argument("--weights", help="auto (default), pretrained, random or a local path")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_run)

    p = commands.add_parser(
        "bench",
        help="time variants x dtypes x batch sizes x modes (eager, compile)",
        description="Benchmark the selected variants: load time, first call (with compilation), "
        "latency p50/p90/p99, throughput, achieved GFLOP/s, peak memory. Writes a "
        "Markdown table (stdout), JSON lines (--jsonl/--json) and a plot (--plot).",
    )
    _add_filters(p, positional_models=True)
    p.add_argument("--dtype", type=_dtype, nargs="+", help="dtypes to run (default: fp32)")
    p.add_argument("--batch-size", type=_positive_int, nargs="+", help="batch sizes to run (default: 1)")
    p.add_argument("--mode", nargs="+", choices=MODES, help="eager and/or compile (default: eager)")
    p.add_argument(
        "--backend",
        default=DEFAULT_BACKEND,
        help=f"torch.compile backend for compile mode (default: {DEFAULT_BACKEND}; e.g. aot_eager)",
    )
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    p.add_argument(
        "--weights",
        default="random",
        help="random (default: timings do not depend on the values), auto, pretrained or a path",
    )
    p.add_argument("--warmup", type=_count, default=5, help="untimed calls after the first (default 5)")
    p.add_argument(
        "--iters",
        type=_positive_int,
        default=30,
        help="timed calls per case (default 30); with --overhead, calls per round",
    )
    p.add_argument("--threads", type=_positive_int, help="torch threads (default: torch's own choice)")
    p.add_argument(
        "--jsonl", metavar="FILE", help="write one JSON record per case to FILE (schema in README.md, Benchmarking)"
    )
    p.add_argument("--json", action="store_true", help="print the JSON records on stdout instead of the table")
    p.add_argument("--plot", metavar="PNG", help="plot throughput against batch size per variant and mode")
    p.add_argument(
        "--overhead",
        action="store_true",
        help="instead of benchmarking, measure the harness loop against a bare timed loop",
    )
    p.add_argument("--rounds", type=_positive_int, default=15, help="interleaved rounds for --overhead (default 15)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_bench)

    p = commands.add_parser(
        "prefetch",
        help="download pinned weights, tokenizers and processors into the caches",
        description="Download the pinned pretrained weights (and tokenizers and processors) of "
        "the chosen variants into the usual caches, so this machine can later run "
        "offline. Already cached variants are skipped.",
    )
    _add_filters(p, positional_models=True)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_prefetch)

    p = commands.add_parser(
        "export",
        help="write a variant's weights (safetensors) and config into a folder",
        description="Write a variant's weights (safetensors) and config into OUT, which "
        "load_model(weights=OUT) and `run --weights OUT` load later. Written beside "
        "OUT and renamed into place, so a failure leaves nothing half-written.",
    )
    single(p)
    p.add_argument("--out", required=True, help="folder to create")
    p.add_argument("--weights", help="auto (default), pretrained, random or a local path")
    p.add_argument("--dtype", type=_dtype, help="fp32, bf16 or fp16 (default: the model's own)")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    p.set_defaults(func=cmd_export)

    p = commands.add_parser(
        "train",
        help="a few optimizer steps on the sample batch with the task's loss",
        description="Load a variant in train mode and run a few AdamW steps on its sample "
        "batch (built once) with its task's loss: next-token or masked-token "
        "cross entropy for language models, the model's own first top class "
        "for classifiers, a cosine loss for sentence embeddings, the mean "
        "square of the raw head maps for detectors. Prints the loss of every "
        "step; a NaN or infinite loss is an error (exit 1).",
    )
    single(p)
    p.add_argument("--steps", type=_positive_int, default=5, help="optimizer steps (default 5)")
    p.add_argument("--lr", type=_positive_float, default=1e-4, help="AdamW learning rate (default 1e-4)")
    p.add_argument("--batch-size", type=_positive_int, default=2, help="rows of the sample batch (default 2)")
    p.add_argument("--dtype", type=_dtype, help="fp32, bf16 or fp16 (default: the model's own)")
    p.add_argument("--num-layers", type=_positive_int, help="cut a transformer to this many layers")
    p.add_argument("--weights", default="random", help="random (default), auto, pretrained or a local path")
    p.add_argument(
        "--seed", type=_count, default=0, help="seed of the random weights and of the masked-LM mask (default 0)"
    )
    p.add_argument(
        "--dropout",
        type=_probability,
        default=0.0,
        help="every dropout probability (default 0.0: deterministic steps; with more, dropout "
        "draws from torch's global RNG)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON record instead of the step lines")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_train)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from ..validation import env_flag

    parser = build_parser()
    args = parser.parse_args(argv)
    warnings.showwarning = _show_warning
    try:
        # Read before the command runs: a bad value is a usage error, not a second error while
        # reporting the first.
        debug = env_flag(DEBUG_ENV)
    except ValueError as err:
        _err(f"error: {err}")
        return EXIT_USAGE
    try:
        return args.func(args)
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:
        # The reader (`| head`) has gone; stop quietly, and keep Python's exit flush from failing too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except UsageError as err:
        _err(f"error: {err}")
        return EXIT_USAGE
    except Exception as err:  # the contract: one line, never a traceback (TT_FORGE_MODELS_DEBUG=1 shows it)
        if debug:
            raise
        expected = (ValueError, TypeError, OSError, RuntimeError, MemoryError, ImportError)
        text = " ".join(str(err).split()) or type(err).__name__
        if not isinstance(err, expected):
            text = f"{type(err).__name__}: {text} (set {DEBUG_ENV}=1 for the traceback)"
        _err(f"error: {text}")
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
