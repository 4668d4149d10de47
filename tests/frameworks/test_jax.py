"""The JAX loaders' contract, checked on every discovered ``<model>/jax/loader.py``.

Tables and shape-only builds run for every variant; parity against the PyTorch golden, ``jax.jit``,
``jax.export`` and the weight round trip run once per distinct architecture, on the reduced
instance the PyTorch suite uses.
"""

from __future__ import annotations

import fnmatch
import importlib
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tt_forge_models.config import Framework
from tt_forge_models.errors import MissingDependencyError
from tt_forge_models.frameworks.flax_weights import flax_to_torch, state_dict_to_numpy, torch_to_flax
from tt_forge_models.frameworks.jax_loader import count_params, to_torch
from tt_forge_models.testing import all_variants, distinct_architectures, golden, parity, reduced_kwargs

from helpers import run_python

pytestmark = pytest.mark.filterwarnings(
    "ignore::tt_forge_models.WeightsFallbackWarning",
    "ignore::tt_forge_models.PreprocessorFallbackWarning",
)

EVERY = all_variants(framework="jax", large_params=float("inf"))


def _cheap(param) -> bool:
    """A reduced test instance of at most 400M parameters, or a full-size one of at most 40M. A
    deeper or wider copy of the same blocks (ResNet-101, Llama 3B's full-width layer) adds
    minutes, not coverage; the family tests run every Llama architecture narrowed."""
    test, full = param.values[0].config.test, param.values[0].config.num_params
    return (test.num_layers is not None and (test.num_params or 0) <= 400_000_000) or full <= 40_000_000


# Each conversion (a source's names) of each architecture.
DISTINCT = [p for p in distinct_architectures(all_variants(framework="jax"), by_source=True) if _cheap(p)]
DEFAULTS = [p for p in all_variants(framework="jax") if p.values[0].is_default]


def test_jax_loaders_exist_for_the_issue_families():
    assert {p.values[0].model for p in EVERY} >= {"resnet"}


@pytest.mark.parametrize("entry", EVERY)
def test_table_is_the_pytorch_table(entry):
    loader, torch_loader = entry.loader, entry.loader.TORCH_LOADER
    assert loader.FRAMEWORK == Framework.JAX and entry.id == f"{entry.model}/jax-{entry.variant}"
    assert loader._VARIANTS[loader._resolve_variant(entry.variant)] is torch_loader._VARIANTS[entry.variant]
    jax_module = importlib.import_module(loader.__module__)
    torch_module = importlib.import_module(torch_loader.__module__)
    assert jax_module.ModelVariant is torch_module.ModelVariant
    info = entry.info
    assert info.framework == Framework.JAX and info.name.startswith("jax_")


@pytest.mark.parametrize("entry", distinct_architectures(EVERY))
def test_shape_only_build_has_the_table_parameter_count(entry):
    loader = entry.make_loader()
    loader.load_model(device="meta", dtype_override=jnp.bfloat16)
    leaves = jax.tree_util.tree_leaves(loader.variables)
    assert all(isinstance(leaf, jax.ShapeDtypeStruct) for leaf in leaves)
    assert {leaf.dtype for leaf in jax.tree_util.tree_leaves(loader.variables["params"])} == {jnp.dtype("bfloat16")}
    assert count_params(loader.variables) == entry.config.num_params
    assert loader.weights_source == "meta"


@pytest.mark.parametrize("entry", DISTINCT)
def test_matches_the_pytorch_golden_and_exports(entry):
    expected, _ = parity.golden_and_loader(entry)
    loader, module, out = parity.jax_outputs(entry)
    report = parity.report(expected, to_torch(out))
    assert report.passed, f"{entry.id} against PyTorch:\n{report}"
    # The stored golden is the PyTorch variant's too: one golden for every framework.
    stored = golden.load(entry)
    assert stored is not None and not golden.diff_outputs(stored, golden.fingerprint(to_torch(out)))
    # jax.export: StableHLO text, a compiler frontend's entry point.
    args, kwargs = loader._call_args(loader._inputs)
    exported = jax.export.export(jax.jit(lambda v, *a, **k: module.apply(v, *a, **k, train=False)))(
        loader.variables, *args, **kwargs
    )
    text = exported.mlir_module()
    assert "stablehlo." in text and "func.func public @main" in text


@pytest.mark.parametrize("entry", EVERY)
def test_every_variant_exports_stablehlo_shape_only(entry):
    """``jax.export`` needs shapes, not values: every variant's reduced instance (its real widths)
    exports from shape-only variables, at no weight cost."""
    loader = entry.make_loader()
    module = loader.load_model(device="meta", **reduced_kwargs(entry))
    args, kwargs = loader._call_args(loader.load_inputs())
    exported = jax.export.export(jax.jit(lambda v, *a, **k: module.apply(v, *a, **k, train=False)))(
        loader.variables, *args, **kwargs
    )
    assert "stablehlo." in exported.mlir_module()
    assert all(aval.shape[0] == 1 for aval in jax.tree_util.tree_leaves(exported.out_avals))


@pytest.mark.parametrize("entry", DISTINCT)
def test_weights_round_trip_exactly(entry):
    loader = entry.make_loader()
    torch_model = loader.torch_loader.load_model(weights="random", seed=3, **reduced_kwargs(entry))
    rules, skip = loader.conversion(torch_model)
    state = state_dict_to_numpy(torch_model)
    back = flax_to_torch(torch_to_flax(state, rules, skip=skip), rules)
    kept = {k for k in state if k not in back}
    assert back.keys() <= state.keys()
    assert all(any(fnmatch.fnmatchcase(k, s) for s in skip) for k in kept), kept
    for key, array in back.items():
        assert array.dtype == state[key].dtype and np.array_equal(array, state[key]), key


@pytest.mark.parametrize("entry", DEFAULTS)
def test_jit_matches_eager(entry):
    _, _, eager = parity.jax_outputs(entry)
    _, _, jitted = parity.jax_outputs(entry, jit=True)
    for a, b in zip(jax.tree_util.tree_leaves(eager), jax.tree_util.tree_leaves(jitted), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5 * float(np.abs(a).max()))


@pytest.mark.parametrize("entry", DEFAULTS)
def test_bf16_model_and_inputs(entry):
    loader, _, out = parity.jax_outputs(entry, dtype=jnp.bfloat16)
    floating = [a for a in jax.tree_util.tree_leaves(loader.variables) if jnp.issubdtype(a.dtype, jnp.floating)]
    assert floating and {a.dtype for a in floating} == {jnp.dtype("bfloat16")}
    for leaf in jax.tree_util.tree_leaves(loader._inputs):
        assert leaf.dtype in (jnp.dtype("bfloat16"), jnp.dtype("int32"), jnp.dtype("bool")), leaf.dtype
    assert {a.dtype for a in jax.tree_util.tree_leaves(out)} == {jnp.dtype("bfloat16")}
    _, _, fp32 = parity.jax_outputs(entry)
    report = parity.report(to_torch(fp32), to_torch(jax.tree_util.tree_map(lambda a: a.astype(jnp.float32), out)))
    assert report.min_pcc >= 0.97, report


@pytest.mark.parametrize("entry", DEFAULTS)
def test_tt_xla_jax_tester_flow(entry):
    """What tt-xla's DynamicJaxModelTester does with a loader (tests/runner/testers/jax/)."""
    loader = entry.make_loader()
    model = loader.load_model(**reduced_kwargs(entry))
    loader.load_inputs()
    for train in (False, True):
        params = loader.get_input_parameters(train=train)
        assert params is loader.variables
        args = loader.get_forward_method_args()
        kwargs = loader.get_forward_method_kwargs(train=train)
        static = loader.get_static_argnames()
        assert set(static) >= {"train"} and all(name in kwargs for name in static if name != "mutable")
        forward = getattr(model, loader.get_forward_method_name())
        eager = loader.wrapper_model(forward)(args, kwargs)
        jitted = loader.wrapper_model(jax.jit(forward, static_argnames=static))(args, kwargs)
        assert isinstance(eager, jax.Array) and eager.shape == jitted.shape
        np.testing.assert_allclose(
            np.asarray(eager), np.asarray(jitted), rtol=1e-4, atol=1e-4 * float(np.abs(eager).max())
        )


def test_bad_input_gets_typed_errors():
    loader = EVERY[0].values[0].make_loader()
    with pytest.raises(ValueError, match="bfloat16"):
        loader.load_model(dtype_override=jnp.int32)
    with pytest.raises(TypeError, match="dtype_override"):
        loader.load_model(dtype_override=3)
    with pytest.raises(ValueError, match="meta"):
        loader.load_model(device="cuda")
    with pytest.raises(ValueError, match="batch_size"):
        loader.load_inputs(batch_size=0)
    with pytest.raises(ValueError, match="valid"):
        type(loader)("no_such_variant")


def test_without_jax_one_line_names_the_extra():
    code = """
        import sys
        sys.modules["flax"] = None  # as if not installed
        from tt_forge_models.errors import MissingDependencyError
        from tt_forge_models.resnet.jax.loader import ModelLoader
        try:
            ModelLoader().load_model()
        except MissingDependencyError as err:
            print(err)
        """
    out = run_python(code).stdout.strip()
    assert "tt-forge-models[jax]" in out and "flax" in out and "\\n" not in out
    assert issubclass(MissingDependencyError, ImportError) and "jax" in sys.modules
