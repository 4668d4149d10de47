"""One golden for every framework: a JAX or ONNX variant's outputs against its PyTorch variant's,
on the same seeded weights and the same inputs (the reduced instance the suite and the goldens
use).

``rtol=1e-4`` with an absolute floor of ``1e-4`` times the golden's largest magnitude: fp32 sums in a
different order differ by a few ulps of the largest values, which a pure relative test would fail
on near-zero outputs.
"""

from __future__ import annotations

from typing import Any

from ..discovery import VariantEntry
from . import CompareReport, LeafReport, compare, flatten_outputs, reduced_input_kwargs, reduced_kwargs

PCC = 0.9999
RTOL = 1e-4


def pytorch_entry(entry: VariantEntry) -> VariantEntry:
    """The PyTorch variant a JAX or ONNX variant is built from."""
    torch_loader = getattr(entry.loader, "TORCH_LOADER", entry.loader)
    return VariantEntry(entry.model, "pytorch", entry.variant, torch_loader)


def matching(golden: Any, actual: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The golden's leaves that ``actual`` has, by path, as two dicts in one order. Another
    framework may return fewer outputs (logits without the key-value cache); a lone unnamed output
    (a bare array) is the golden's ``logits``."""
    from .golden import matched_paths

    gold = dict(flatten_outputs(golden))
    flat = flatten_outputs(actual)
    act = dict(zip(matched_paths(gold, [p for p, _ in flat]), (t for _, t in flat)))
    return {p: gold[p] for p in act if p in gold} | {p: None for p in act if p not in gold}, act


def report(golden: Any, actual: Any, *, pcc: float = PCC, rtol: float = RTOL) -> CompareReport:
    """:func:`~.compare` of the matching leaves, allclose included (see the module's tolerance)."""
    gold, act = matching(golden, actual)
    missing = [p for p, g in gold.items() if g is None]
    if missing:
        problem = f"outputs {missing} are not among PyTorch's ({[p for p, _ in flatten_outputs(golden)]})"
        return CompareReport((LeafReport("<structure>", (), 0.0, float("inf"), False, False, problem),), pcc)
    scale = max((float(g.detach().abs().max()) for g in gold.values() if g.numel()), default=1.0)
    return compare(gold, act, pcc=pcc, rtol=rtol, atol=rtol * scale)


def golden_and_loader(entry: VariantEntry) -> tuple[Any, Any]:
    """The PyTorch golden outputs (fp32, seed 0, reduced) and a loader of ``entry`` to run."""
    from .golden import golden_outputs

    return golden_outputs(pytorch_entry(entry)), entry.make_loader()


def jax_outputs(entry: VariantEntry, *, dtype: Any = None, jit: bool = False) -> tuple[Any, Any, Any]:
    """``(loader, module, outputs)`` of a JAX variant's reduced instance, seed 0."""
    import jax

    loader = entry.make_loader()
    module = loader.load_model(weights="random", seed=0, dtype_override=dtype, **reduced_kwargs(entry))
    inputs = loader.load_inputs(dtype_override=dtype, **reduced_input_kwargs(entry))
    if jit:
        args, kwargs = loader._call_args(inputs)
        out = jax.jit(lambda v, *a, **k: module.apply(v, *a, **k, train=False))(loader.variables, *args, **kwargs)
    else:
        out = loader.forward(module, inputs)
    return loader, module, out
