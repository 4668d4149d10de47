"""Kept so the documented ``tt_forge_models.benchmark`` path works; the harness is :mod:`.cli.bench`."""

from .cli.bench import (
    DEFAULT_BACKEND,
    MODES,
    SCHEMA,
    SCHEMA_VERSION,
    BenchOptions,
    markdown_table,
    measure_overhead,
    plot_throughput,
    run_benchmark,
    validate_record,
)

__all__ = [
    "DEFAULT_BACKEND",
    "MODES",
    "SCHEMA",
    "SCHEMA_VERSION",
    "BenchOptions",
    "markdown_table",
    "measure_overhead",
    "plot_throughput",
    "run_benchmark",
    "validate_record",
]
