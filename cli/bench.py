"""The benchmark harness: every variant timed the same way, eager and compiled.

Benchmarking scripts import it; ``tt-forge-models bench`` drives it::

    from tt_forge_models import list_variants
    from tt_forge_models.cli.bench import BenchOptions, run_benchmark, markdown_table

    records = run_benchmark(list_variants(name="resnet/*-resnet18"),
                            BenchOptions(batch_sizes=(1, 4), modes=("eager", "compile")))
    print(markdown_table(records))

A case is one variant x dtype x batch size x mode. The model is loaded once per variant and dtype
and shared by its cases. Per case the harness times the first call (which includes compilation),
runs ``warmup`` calls, then times ``iters`` calls one by one. Each case yields one record, a plain
dict whose fields are documented in :data:`RECORD_FIELDS` (``schema_version`` changes whenever a
field changes meaning or goes away). A case that fails yields a record with ``status: "error"``
and the run goes on.

Only the standard library is imported at module level; torch loads when a benchmark runs.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from ..errors import one_line
from ..inputs import check_batch_size
from ..inputs.devices import move_to, resolve_device, synchronizer
from ..inputs.dtypes import canonical_dtype_name

SCHEMA = "tt_forge_models.bench"
SCHEMA_VERSION = 1
MODES = ("eager", "compile")
DEFAULT_BACKEND = "inductor"

_NUMBER = (int, float)
_OPT_NUMBER = (int, float, type(None))
_OPT_INT = (int, type(None))
_OPT_STR = (str, type(None))

#: Every field of a record: name -> (accepted JSON types, meaning). Times are seconds, sizes bytes.
RECORD_FIELDS: dict[str, tuple[tuple[type, ...], str]] = {
    "schema": ((str,), f'always "{SCHEMA}"'),
    "schema_version": ((int,), f"{SCHEMA_VERSION}; raised when a field changes meaning or goes away"),
    "status": ((str,), '"ok", or "error" when the case failed (see "error"); timings are then null'),
    "error": (_OPT_STR, "one line saying why the case failed, else null"),
    "id": ((str,), "the variant's ID, e.g. resnet/pytorch-resnet50"),
    "model": ((str,), "model folder, e.g. resnet"),
    "variant": ((str,), "variant name, e.g. resnet50"),
    "name": ((str,), "ModelInfo.name, e.g. pytorch_resnet_resnet50_cv_image_cls_torchvision"),
    "num_params": (_OPT_INT, "parameters of the model as built"),
    "dtype": ((str,), "float32, bfloat16 or float16"),
    "batch_size": ((int,), "samples per call"),
    "mode": ((str,), '"eager" or "compile" (torch.compile)'),
    "backend": (_OPT_STR, "torch.compile backend (inductor, aot_eager, ...), or jax.jit; null in eager mode"),
    "device": ((str,), "cpu or cuda[:N]"),
    "device_name": ((str,), "the CPU or GPU model"),
    "threads": ((int,), "torch.get_num_threads() during the case"),
    "weights": (_OPT_STR, 'where the weights came from: "random", "pretrained", "local:<path>"'),
    "warmup": ((int,), "untimed calls after the first call"),
    "iters": ((int,), "timed calls"),
    "load_s": (_OPT_NUMBER, "load_model + move to the device, once per variant and dtype"),
    "first_call_s": (_OPT_NUMBER, "the first call, including compilation in compile mode"),
    "latency_p50_s": (_OPT_NUMBER, "median of the timed calls"),
    "latency_p90_s": (_OPT_NUMBER, "90th percentile of the timed calls (linear interpolation)"),
    "latency_p99_s": (_OPT_NUMBER, "99th percentile of the timed calls (linear interpolation)"),
    "latency_mean_s": (_OPT_NUMBER, "mean of the timed calls"),
    "throughput_samples_s": (_OPT_NUMBER, "batch_size x iters / wall time of the timed calls"),
    "flops": (_OPT_INT, "FLOPs of one forward at this batch size (FlopCounterMode, 2 per multiply-add)"),
    "flops_error": (_OPT_STR, "why flops is null, else null"),
    "achieved_gflop_s": (_OPT_NUMBER, "flops x iters / wall time / 1e9"),
    "peak_rss_bytes": (_OPT_INT, "peak resident memory of the process during the case (weights included)"),
    "peak_rss_method": (_OPT_STR, '"vmhwm" (peak reset at the case start) or "ru_maxrss" (process lifetime)'),
    "peak_cuda_bytes": (_OPT_INT, "torch.cuda.max_memory_allocated during the case; null on the CPU"),
    "torch_version": ((str,), "torch.__version__"),
    "timestamp": ((str,), "when the case finished, ISO 8601 UTC"),
}


def validate_record(record: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` unless ``record`` has exactly the fields of :data:`RECORD_FIELDS`, typed."""
    missing = sorted(set(RECORD_FIELDS) - set(record))
    extra = sorted(set(record) - set(RECORD_FIELDS))
    if missing or extra:
        raise ValueError(f"bench record fields differ from schema {SCHEMA_VERSION}: missing {missing}, extra {extra}")
    for key, (types, _) in RECORD_FIELDS.items():
        value = record[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise ValueError(f"bench record field {key!r} is {type(value).__name__} {value!r}")
    if record["schema"] != SCHEMA or record["schema_version"] != SCHEMA_VERSION:
        raise ValueError(f"not a {SCHEMA} v{SCHEMA_VERSION} record: {record['schema']} v{record['schema_version']}")


@dataclass(frozen=True)
class BenchOptions:
    """What to run for each selected variant, and how."""

    dtypes: Sequence[str] = ("float32",)
    batch_sizes: Sequence[int] = (1,)
    modes: Sequence[str] = ("eager",)
    backend: str = DEFAULT_BACKEND
    device: str = "cpu"
    # Timings do not depend on the values of the weights, and random ones never touch the network.
    weights: str = "random"
    warmup: int = 5
    iters: int = 30
    threads: int | None = None
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "dtypes", tuple(canonical_dtype_name(d) for d in self.dtypes))
        object.__setattr__(self, "batch_sizes", tuple(check_batch_size(b) for b in self.batch_sizes))
        object.__setattr__(self, "modes", tuple(self.modes))
        unknown = [m for m in self.modes if m not in MODES]
        if unknown:
            raise ValueError(f"unknown mode {unknown[0]!r}; accepted: {', '.join(MODES)}")
        for name, value, least in (("warmup", self.warmup, 0), ("iters", self.iters, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
        if not (self.dtypes and self.batch_sizes and self.modes):
            raise ValueError("give at least one dtype, batch size and mode")

    def num_cases(self, num_variants: int) -> int:
        return num_variants * len(self.dtypes) * len(self.batch_sizes) * len(self.modes)


def timed_calls(call: Callable[[], Any], iters: int, sync: Callable[[], None]) -> tuple[list[float], float]:
    """The harness's timing loop: the latency of each of ``iters`` calls and their total wall time.

    ``sync`` waits for the device after each call, so a latency is the whole call on a GPU too.
    The loop does nothing else, which is what keeps its overhead under 1% (``bench --overhead``).
    """
    clock = time.perf_counter
    times = [0.0] * iters
    begin = clock()
    for i in range(iters):
        start = clock()
        call()
        sync()
        times[i] = clock() - start
    return times, clock() - begin


def bound_call(model: Any, inputs: Any) -> Callable[[], Any]:
    """``model`` called with ``inputs`` as :func:`call_model` would, with the form resolved once."""
    from ..inputs import bind_inputs

    return bind_inputs(model, inputs)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of sorted values, interpolated linearly like numpy's default."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    pos = (len(sorted_values) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (pos - low)


def run_benchmark(
    entries: Iterable[Any],
    options: BenchOptions,
    *,
    progress: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every case of ``entries`` (:class:`~tt_forge_models.discovery.VariantEntry`) and return
    the records; ``on_record`` sees each one as soon as its case ends."""
    import torch

    device = resolve_device(options.device)  # a missing GPU fails here, before any load
    if "compile" in options.modes:
        _check_backend(options.backend)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    entries = list(entries)
    records = []
    flops_cache: dict[tuple[str, int], Any] = {}
    bar = _progress(options.num_cases(len(entries)), "bench", "case", progress)
    try:
        for entry in entries:
            for dtype in options.dtypes:
                for record in _run_group(entry, dtype, options, device, bar, flops_cache):
                    records.append(record)
                    if on_record is not None:
                        on_record(record)
                    bar.update(1)
    finally:
        bar.close()
    return records


def _check_backend(backend: Any) -> None:
    """An unknown backend name fails once, before anything loads, rather than in every case."""
    import torch._dynamo

    if not isinstance(backend, str):
        return  # a callable backend; torch.compile judges it
    known = [b for b in torch._dynamo.list_backends(exclude_tags=()) if "TESTING" not in b]
    if backend not in known:
        raise ValueError(f"unknown torch.compile backend {backend!r}; available here: {', '.join(known)}")


def _run_group(
    entry: Any, dtype: str, options: BenchOptions, device: Any, bar: Any, flops_cache: dict
) -> Iterator[dict[str, Any]]:
    """The cases of one variant and dtype: one load, then each batch size and mode.

    FLOPs are counted once per variant and batch size (``flops_cache``): the count does not
    depend on the dtype.
    """
    import gc

    import torch

    from .flops import FlopCount, count_flops

    sync = synchronizer(device)
    loader = entry.make_loader()
    base = {"id": entry.id, "model": entry.model, "variant": entry.variant, "name": entry.info.name, "dtype": dtype}
    if entry.framework != "pytorch":
        yield from _run_framework_group(entry, loader, base, dtype, options, device, bar)
        return
    try:
        bar.set_postfix_str(f"{entry.id} {dtype} loading")
        # Untimed: a meta build imports the source's libraries, which load_s should not include.
        loader.load_model(device="meta", dtype_override=dtype, **options.model_kwargs)
        start = time.perf_counter()
        model = loader.load_model(dtype_override=dtype, weights=options.weights, **options.model_kwargs)
        model.to(device)
        sync()
        load_s = time.perf_counter() - start
    except Exception as err:  # a failed load fails its cases, not the run
        for batch_size in options.batch_sizes:
            for mode in options.modes:
                yield _record(base, options, device, batch_size=batch_size, mode=mode, error=one_line(err))
        return
    base.update(num_params=sum(p.numel() for p in model.parameters()), weights=loader.weights_source, load_s=load_s)
    for batch_size in options.batch_sizes:
        key = (entry.id, batch_size)
        if key not in flops_cache:
            try:
                flops_cache[key] = count_flops(loader, batch_size=batch_size, dtype=dtype, **options.model_kwargs)
            except Exception as err:  # the inputs cannot be built; the case below will say so too
                flops_cache[key] = FlopCount(None, None, one_line(err))
        flops = flops_cache[key]
        try:
            inputs = move_to(loader.load_inputs(dtype_override=dtype, batch_size=batch_size), device)
        except Exception as err:
            for mode in options.modes:
                yield _record(base, options, device, batch_size=batch_size, mode=mode, error=one_line(err), flops=flops)
            continue
        for mode in options.modes:
            bar.set_postfix_str(f"{entry.id} {dtype} b{batch_size} {mode}")
            try:
                timings = _time_case(model, inputs, mode, options, device, sync)
            except Exception as err:  # compilers fail in many ways; the record says how
                timings = {"error": one_line(err)}
            yield _record(base, options, device, batch_size=batch_size, mode=mode, flops=flops, **timings)
        del inputs
    del model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _run_framework_group(
    entry: Any, loader: Any, base: dict, dtype: str, options: BenchOptions, device: Any, bar: Any
) -> Iterator[dict[str, Any]]:
    """The cases of a JAX or ONNX variant: ``eager`` times ``loader.call_model``, ``compile`` the
    loader's compiled call (``jax.jit``), each waited for; on the CPU only."""
    cases = [(b, m) for b in options.batch_sizes for m in options.modes]
    try:
        if device.type != "cpu":
            raise ValueError(f"{entry.framework} variants run on the CPU here, not {device}")
        bar.set_postfix_str(f"{entry.id} {dtype} loading")
        start = time.perf_counter()
        model = loader.load_model(dtype_override=dtype, weights=options.weights, **options.model_kwargs)
        load_s = time.perf_counter() - start
    except Exception as err:
        for batch_size, mode in cases:
            yield _record(base, options, device, batch_size=batch_size, mode=mode, error=one_line(err))
        return
    base.update(num_params=loader.count_model_parameters(model), weights=loader.weights_source, load_s=load_s)
    for batch_size, mode in cases:
        bar.set_postfix_str(f"{entry.id} {dtype} b{batch_size} {mode}")
        try:
            inputs = loader.load_inputs(dtype_override=dtype, batch_size=batch_size)
            forward = loader.compiled(model) if mode == "compile" else (lambda x: loader.call_model(model, x))
            rss_reset = _reset_peak_rss()
            start = time.perf_counter()
            forward(inputs)
            first_call_s = time.perf_counter() - start
            for _ in range(options.warmup):
                forward(inputs)
            times, wall = timed_calls(lambda: forward(inputs), options.iters, lambda: None)
            timings = _timings(first_call_s, times, wall, *_peak_rss(rss_reset), peak_cuda=None)
        except Exception as err:
            timings = {"error": one_line(err)}
        record = _record(base, options, device, batch_size=batch_size, mode=mode, **timings)
        if mode == "compile":
            record["backend"] = loader.COMPILER
        yield record


def _time_case(
    model: Any, inputs: Any, mode: str, options: BenchOptions, device: Any, sync: Callable
) -> dict[str, Any]:
    import torch

    rss_reset = _reset_peak_rss()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    if mode == "compile":
        # A fresh compile per case: the first call then pays the whole compilation, and one
        # batch size's graph never turns the next one's dynamic.
        torch._dynamo.reset()
        model = torch.compile(model, backend=options.backend, dynamic=False)
    call = bound_call(model, inputs)
    try:
        with torch.no_grad():
            start = time.perf_counter()
            call()
            sync()
            first_call_s = time.perf_counter() - start
            for _ in range(options.warmup):
                call()
            sync()
            times, wall = timed_calls(call, options.iters, sync)
        peak_rss, rss_method = _peak_rss(rss_reset)
    finally:
        if mode == "compile":
            # Compiled graphs would otherwise stay resident into the next case's peak memory.
            del call, model
            torch._dynamo.reset()
    peak_cuda = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    return _timings(first_call_s, times, wall, peak_rss, rss_method, peak_cuda=peak_cuda)


def _timings(
    first_call_s: float, times: list[float], wall: float, peak_rss: Any, rss_method: Any, *, peak_cuda: Any
) -> dict[str, Any]:
    """A case's timing fields of the record, from its first call and its timed calls."""
    ordered = sorted(times)
    return {
        "first_call_s": first_call_s,
        "latency_p50_s": percentile(ordered, 50),
        "latency_p90_s": percentile(ordered, 90),
        "latency_p99_s": percentile(ordered, 99),
        "latency_mean_s": sum(times) / len(times),
        "wall_s": wall,
        "peak_rss_bytes": peak_rss,
        "peak_rss_method": rss_method,
        "peak_cuda_bytes": peak_cuda,
    }


def _record(
    base: dict,
    options: BenchOptions,
    device: Any,
    *,
    batch_size: int,
    mode: str,
    flops: Any = None,
    error: str | None = None,
    wall_s: float | None = None,
    **timings: Any,
) -> dict[str, Any]:
    import datetime

    import torch

    from ..inputs.devices import device_name

    record: dict[str, Any] = dict.fromkeys(RECORD_FIELDS)
    record.update(
        schema=SCHEMA,
        schema_version=SCHEMA_VERSION,
        status="error" if error else "ok",
        error=error,
        batch_size=batch_size,
        mode=mode,
        backend=options.backend if mode == "compile" else None,
        device=str(device),
        device_name=device_name(device),
        threads=torch.get_num_threads(),
        warmup=options.warmup,
        iters=options.iters,
        torch_version=str(torch.__version__),
        timestamp=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    record.update(base)
    record.update(timings)
    if flops is not None:
        record["flops"], record["flops_error"] = flops.flops, flops.error
    if wall_s:
        record["throughput_samples_s"] = batch_size * options.iters / wall_s
        if record["flops"] is not None:
            record["achieved_gflop_s"] = record["flops"] * options.iters / wall_s / 1e9
    return record


# ---- memory ------------------------------------------------------------------------------------


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the next reading covers this case only."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_rss(reset: bool) -> tuple[int | None, str | None]:
    if reset:
        try:
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) * 1024, "vmhwm"
        except OSError:
            pass
    try:
        import resource

        # Linux reports KiB; macOS reports bytes.
        scale = 1 if sys.platform == "darwin" else 1024
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, "ru_maxrss"
    except (ImportError, OSError):
        return None, None


# ---- overhead ----------------------------------------------------------------------------------


def measure_overhead(
    entry: Any,
    *,
    dtype: str = "float32",
    batch_size: int = 1,
    device: str = "cpu",
    weights: str = "random",
    calls: int = 10,
    rounds: int = 15,
    floor_calls: int = 100_000,
    threads: int | None = None,
) -> dict[str, Any]:
    """The harness's timing loop against a bare ``for`` loop around the same model call.

    Each round runs both loops back to back, alternating which goes first, so drift of a shared
    machine hits both alike. ``overhead_pct`` is the median over rounds of harness time / bare
    time - 1; the range of those ratios shows the machine's noise. Because any ratio of two model
    timings carries that noise, the loop's fixed cost per call is also measured on
    ``nn.Identity``, where there is almost nothing else to time, and given as a share of the
    model's call (``fixed_cost_pct``): that is the harness's own cost.
    """
    import statistics

    import torch

    dev = resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    sync = synchronizer(dev)
    loader = entry.make_loader()
    model = loader.load_model(dtype_override=dtype, weights=weights).to(dev)
    inputs = move_to(loader.load_inputs(dtype_override=dtype, batch_size=batch_size), dev)

    with torch.no_grad():
        harness_s, bare_s = _interleaved(model, inputs, calls, rounds, sync)
        tiny = torch.zeros(1)
        floor_harness, floor_bare = _interleaved(torch.nn.Identity(), tiny, floor_calls, 3, lambda: None)
    ratios = sorted(h / b - 1 for h, b in zip(harness_s, bare_s))
    per_call = min(bare_s) / calls
    fixed = max(0.0, (min(floor_harness) - min(floor_bare)) / floor_calls)
    return {
        "id": entry.id,
        "dtype": canonical_dtype_name(dtype),
        "batch_size": batch_size,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "calls_per_round": calls,
        "rounds": rounds,
        "bare_call_s": per_call,
        "harness_call_s": min(harness_s) / calls,
        # Each round pairs the two loops back to back, so the median ratio cancels slow drift.
        "overhead_pct": 100 * statistics.median(ratios),
        "overhead_pct_range": [100 * ratios[0], 100 * ratios[-1]],
        "overhead_pct_fastest": 100 * (min(harness_s) / min(bare_s) - 1),
        "fixed_cost_per_call_s": fixed,
        "fixed_cost_pct": 100 * fixed / per_call,
    }


def _interleaved(model: Any, inputs: Any, calls: int, rounds: int, sync: Callable) -> tuple[list[float], list[float]]:
    clock = time.perf_counter
    args = tuple(inputs) if isinstance(inputs, (list, tuple)) else (inputs,) if not isinstance(inputs, Mapping) else ()
    kwargs = dict(inputs) if isinstance(inputs, Mapping) else {}

    def bare() -> float:
        # What a script without the harness writes: the model called directly, one clock around
        # all calls. It waits for the device after each call as the harness does, so on a GPU
        # both time whole calls and the difference is the harness's own bookkeeping.
        start = clock()
        for _ in range(calls):
            model(*args, **kwargs)
            sync()
        return clock() - start

    def harness() -> float:
        return timed_calls(bound_call(model, inputs), calls, sync)[1]

    for _ in range(2):  # warm both paths
        bare(), harness()
    harness_s, bare_s = [], []
    for r in range(rounds):
        if r % 2:
            bare_s.append(bare())
            harness_s.append(harness())
        else:
            harness_s.append(harness())
            bare_s.append(bare())
    return harness_s, bare_s


# ---- reports -----------------------------------------------------------------------------------

_DTYPE_SHORT = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def markdown_table(records: Sequence[Mapping[str, Any]]) -> str:
    """One row per case: the numbers a person compares."""
    cuda = any(r.get("peak_cuda_bytes") is not None for r in records)
    header = [
        "variant",
        "dtype",
        "batch",
        "mode",
        "load s",
        "first call s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "samples/s",
        "GFLOP/s",
        "peak RSS MiB",
    ] + (["peak CUDA MiB"] if cuda else [])
    rows, notes = [], []
    for r in records:
        mode = r["mode"] if r["mode"] == "eager" else f"compile ({r['backend']})"
        row = [r["id"], _DTYPE_SHORT.get(r["dtype"], r["dtype"]), str(r["batch_size"]), mode]
        if r["status"] != "ok":
            # The message goes under the table, so one long error does not widen every row.
            notes.append(
                f"[{len(notes) + 1}] {r['id']} {_DTYPE_SHORT.get(r['dtype'], r['dtype'])} "
                f"batch {r['batch_size']} {mode}: {r['error']}"
            )
            row += [_fmt(r.get("load_s"), 2), f"error [{len(notes)}]"] + [""] * (len(header) - 6)
        else:
            row += [
                _fmt(r["load_s"], 2),
                _fmt(r["first_call_s"], 2),
                _fmt(_ms(r["latency_p50_s"]), 2),
                _fmt(_ms(r["latency_p90_s"]), 2),
                _fmt(_ms(r["latency_p99_s"]), 2),
                _fmt(r["throughput_samples_s"], 1),
                _fmt(r["achieved_gflop_s"], 1),
                _fmt(_mib(r["peak_rss_bytes"]), 0),
            ] + ([_fmt(_mib(r["peak_cuda_bytes"]), 0)] if cuda else [])
        rows.append(row)
    right = set(range(4, len(header)))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: Sequence[str]) -> str:
        return (
            "| "
            + " | ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
            + " |"
        )

    rule = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), rule] + [line(r) for r in rows] + ([""] + notes if notes else []))


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1e3


def _mib(n: int | None) -> float | None:
    return None if n is None else n / 2**20


def _fmt(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def plot_throughput(records: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Throughput against batch size, one line per variant and mode (and dtype when several)."""
    try:
        import matplotlib
    except ImportError as err:
        raise ImportError("--plot needs matplotlib: pip install matplotlib") from err
    matplotlib.use("Agg")  # files only; never a display
    import matplotlib.pyplot as plt

    ok = [r for r in records if r["status"] == "ok"]
    if not ok:
        raise ValueError("no successful case to plot")
    several_dtypes = len({r["dtype"] for r in ok}) > 1
    series: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    for r in ok:
        mode = r["mode"] if r["mode"] == "eager" else f"compile/{r['backend']}"
        series.setdefault((r["id"], mode, r["dtype"]), []).append((r["batch_size"], r["throughput_samples_s"]))
    # One colour per variant, one line style per mode and dtype, so both read at a glance.
    colours = {key: f"C{i % 10}" for i, key in enumerate(dict.fromkeys(k[0] for k in series))}
    styles = {key: ("-", "--", ":", "-.")[i % 4] for i, key in enumerate(dict.fromkeys(k[1:] for k in series))}
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for (variant_id, mode, dtype), points in series.items():
        points.sort()
        label = f"{variant_id.rsplit('-', 1)[-1]} {mode}" + (
            f" {_DTYPE_SHORT.get(dtype, dtype)}" if several_dtypes else ""
        )
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker="o",
            label=label,
            color=colours[variant_id],
            linestyle=styles[(mode, dtype)],
        )
    sizes = sorted({r["batch_size"] for r in ok})
    ax.set_xscale("log", base=2)
    ax.set_xticks(sizes, [str(s) for s in sizes])
    ax.set_xlabel("batch size")
    ax.set_ylabel("throughput (samples/s)")
    threads = ok[0]["threads"]
    ax.set_title(
        f"{ok[0]['device_name']} ({ok[0]['device']}, {threads} thread{'s' if threads != 1 else ''})", fontsize=9
    )
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---- progress ----------------------------------------------------------------------------------


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, desc: str, unit: str, enabled: bool) -> Any:
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)


__all__ = [
    "DEFAULT_BACKEND",
    "MODES",
    "RECORD_FIELDS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "BenchOptions",
    "markdown_table",
    "measure_overhead",
    "percentile",
    "plot_throughput",
    "run_benchmark",
    "timed_calls",
    "validate_record",
]
