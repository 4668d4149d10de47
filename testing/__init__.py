"""Helpers for the test suites of frontends that vendor this package.

- ``all_variants()``: every (loader, variant) as pytest parameters with IDs such as
  ``resnet/pytorch-resnet50``; listing imports no torch.
- ``call_model(model, inputs)``: call a model with its inputs, whatever their form.
- ``pcc``, ``compare``, ``assert_pcc``: compare a device run with the CPU golden, tensor by tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..discovery import VariantEntry, list_variants
from ..inputs import call_model

# Variants whose test build has more parameters than this get the ``large`` mark, so suites can
# deselect them. The test build is the reduced one a row declares (test.num_params), else full size.
LARGE_PARAMS = 1_000_000_000


def all_variants(*, large_params: int = LARGE_PARAMS, **filters: Any) -> list[Any]:
    """``pytest.param(entry, id=entry.id)`` for every variant that passes ``filters``.

    ``filters`` are those of :func:`list_variants`: model, task, source, group, framework, name,
    max_params. Variants whose test build (``test.num_params``, else ``num_params``) has more than
    ``large_params`` parameters carry ``pytest.mark.large``.
    """
    import pytest

    params = []
    for entry in list_variants(**filters):
        size = entry.config.test.num_params or entry.config.num_params or 0
        marks = [pytest.mark.large] if size > large_params else []
        params.append(pytest.param(entry, id=entry.id, marks=marks))
    return params


def reduced_kwargs(entry: VariantEntry) -> dict[str, Any]:
    """The ``load_model`` keywords of the variant's reduced test instance (its ``test.num_layers``
    and ``test.overrides``), the one the suite, the goldens and a frontend's CI use; ``{}`` at full
    size."""
    test = entry.config.test
    return {**({} if test.num_layers is None else {"num_layers": test.num_layers}), **test.overrides}


def reduced_input_kwargs(entry: VariantEntry) -> dict[str, Any]:
    """The ``load_inputs`` keywords of the reduced test instance (its ``test.input_size``), if any."""
    size = entry.config.test.input_size
    return {} if size is None else {"input_size": size}


def architecture_key(entry: VariantEntry) -> tuple[Any, ...]:
    """What the variant's *test build* is, from its table row: its family, task, parameter counts
    and reduced depth. Variants with one key run the same network (resnet50 from torchvision,
    timm and Hugging Face; an Instruct row beside its base row), so a suite can run its heavy
    checks once per key: :func:`distinct_architectures`."""
    config = entry.config
    return (entry.model, str(config.task), config.num_params, config.test.num_layers, config.test.num_params)


def distinct_architectures(params: list[Any], *, by_source: bool = False) -> list[Any]:
    """The first of ``params`` (from :func:`all_variants`) for each :func:`architecture_key`; with
    ``by_source``, for each architecture and source (checks of a source's own code: its init, its
    parameter names)."""
    seen, out = set(), []
    for param in params:
        entry = param.values[0]
        key = (architecture_key(entry), str(entry.config.source) if by_source else None)
        if key not in seen:
            seen.add(key)
            out.append(param)
    return out


# ---- comparing outputs -------------------------------------------------------------------------


def pcc(golden: Any, actual: Any) -> float:
    """Pearson correlation of two tensors; see :func:`_pearson`."""
    return _pearson(golden, actual)


def _pearson(golden: Any, actual: Any) -> float:
    """Pearson correlation of two tensors, flattened, in float64.

    Identical tensors count as 1 (constant ones included, where the formula is 0/0). A NaN or inf
    in one where the other has a different value gives 0 (a failure at any threshold). Shapes must
    have the same number of elements.
    """
    import torch

    a = torch.as_tensor(golden).detach().reshape(-1).to(torch.float64)
    b = torch.as_tensor(actual).detach().reshape(-1).to(torch.float64)
    if a.numel() != b.numel():
        raise ValueError(f"cannot correlate {a.numel()} values with {b.numel()}")
    if a.numel() == 0 or torch.equal(a, b):
        return 1.0
    a_bad, b_bad = ~torch.isfinite(a), ~torch.isfinite(b)
    if a_bad.any() or b_bad.any():
        x, y = a[a_bad], b[b_bad]
        same_bad = torch.equal(a_bad, b_bad) and bool(((x == y) | (x.isnan() & y.isnan())).all())
        if not same_bad:
            return 0.0
        a, b = a[~a_bad], b[~b_bad]
        if a.numel() == 0 or torch.equal(a, b):
            return 1.0
    a = a - a.mean()
    b = b - b.mean()
    denom = torch.sqrt((a * a).sum() * (b * b).sum())
    if denom == 0:
        # One side is constant and they differ: no correlation can be claimed.
        return 0.0
    return float(((a * b).sum() / denom).clamp(-1.0, 1.0))


@dataclass(frozen=True)
class LeafReport:
    path: str
    shape: tuple[int, ...]
    pcc: float
    max_abs_diff: float
    allclose: bool
    passed: bool
    problem: str | None = None

    def line(self) -> str:
        verdict = "ok  " if self.passed else "FAIL"
        detail = self.problem or f"pcc={self.pcc:.6f} max_abs_diff={self.max_abs_diff:.3g} allclose={self.allclose}"
        return f"{verdict} {self.path or '<output>'} {list(self.shape)} {detail}"


@dataclass(frozen=True)
class CompareReport:
    leaves: tuple[LeafReport, ...]
    pcc_threshold: float

    @property
    def passed(self) -> bool:
        return bool(self.leaves) and all(leaf.passed for leaf in self.leaves)

    @property
    def min_pcc(self) -> float:
        return min((leaf.pcc for leaf in self.leaves), default=0.0)

    def __str__(self) -> str:
        head = f"{'PASSED' if self.passed else 'FAILED'}: {len(self.leaves)} tensors, pcc >= {self.pcc_threshold}"
        return "\n".join([head] + [leaf.line() for leaf in self.leaves])


def flatten_outputs(output: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """``(path, tensor)`` for every tensor in nested outputs: HF ``ModelOutput``, dicts, tuples,
    lists, KV caches. ``None`` entries are skipped; the paths name the keys and indices, after
    ``prefix`` (:mod:`..inputs.tree`'s walk and spelling, the paths the goldens store)."""
    from ..inputs.tree import flatten, path_str

    return [(path_str(path, prefix), tensor) for path, tensor in flatten(output)]


def compare(
    golden: Any, actual: Any, *, pcc: float = 0.99, atol: float | None = None, rtol: float = 1e-2
) -> CompareReport:
    """Compare every tensor of two nested outputs.

    A leaf passes when shapes match and its PCC reaches ``pcc``; when ``atol`` is given it must
    also be allclose (``|a-b| <= atol + rtol*|golden|``). The report lists each leaf with its PCC,
    max abs difference and allclose, and an overall verdict.
    """
    import torch

    threshold = pcc
    gold, act = flatten_outputs(golden), flatten_outputs(actual)
    gold_paths, act_paths = [p for p, _ in gold], [p for p, _ in act]
    if gold_paths != act_paths:
        leaf = LeafReport(
            "<structure>",
            (),
            0.0,
            float("inf"),
            False,
            False,
            f"different outputs: golden {gold_paths} vs actual {act_paths}",
        )
        return CompareReport((leaf,), threshold)
    leaves = []
    for (path, g), (_, a) in zip(gold, act):
        if tuple(g.shape) != tuple(a.shape):
            leaves.append(
                LeafReport(
                    path,
                    tuple(a.shape),
                    0.0,
                    float("inf"),
                    False,
                    False,
                    f"shape {list(a.shape)} != golden {list(g.shape)}",
                )
            )
            continue
        g64, a64 = g.detach().to(torch.float64), a.detach().to(torch.float64)
        value = _pearson(g64, a64)
        finite = torch.isfinite(g64) & torch.isfinite(a64)
        diff = (g64 - a64).abs()[finite]
        max_abs = float(diff.max()) if diff.numel() else (0.0 if torch.equal(g64, a64) else float("inf"))
        close = bool(torch.allclose(a64, g64, rtol=rtol, atol=atol if atol is not None else 1e-8, equal_nan=True))
        passed = value >= threshold and (atol is None or close)
        leaves.append(LeafReport(path, tuple(g.shape), value, max_abs, close, passed))
    return CompareReport(tuple(leaves), threshold)


def assert_pcc(golden: Any, actual: Any, pcc: float = 0.99, **kwargs: Any) -> CompareReport:
    """Fail with the per-tensor report unless every tensor correlates by at least ``pcc``."""
    report = compare(golden, actual, pcc=pcc, **kwargs)
    if not report.passed:
        raise AssertionError(str(report))
    return report


__all__ = [
    "reduced_kwargs",
    "reduced_input_kwargs",
    "LARGE_PARAMS",
    "CompareReport",
    "LeafReport",
    "VariantEntry",
    "all_variants",
    "assert_pcc",
    "call_model",
    "compare",
    "flatten_outputs",
    "list_variants",
    "pcc",
]
