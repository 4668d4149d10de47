"""Random junk into every public parameter of every loader: a typed error or success, never
anything else, and never slow.

"Typed" means TypeError, ValueError, FileNotFoundError (a missing path) or one of the errors in
``tt_forge_models.errors``. Builds run on the meta device and sizes are drawn either small or far
too large, so no example allocates much: the suite stays cheap (well under a minute).
Run with ``-s`` to see how many inputs were tried and how many got a typed error.
"""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tt_forge_models import errors
from tt_forge_models.discovery import _loader_classes

LOADERS = {f"{model}/{framework}": loader for model, framework, loader in _loader_classes()}
TYPED = (
    TypeError,
    ValueError,
    FileNotFoundError,
    *(e for e in vars(errors).values() if isinstance(e, type) and issubclass(e, Exception)),
)
#: no single call may take longer than this (a guard that works refuses in milliseconds; an
#: accepted meta build of a JAX loader imports jax and traces the network, seconds on a busy CPU)
CALL_LIMIT_S = 20.0
STATS: collections.Counter = collections.Counter()

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.binary(max_size=8),
    st.lists(st.integers(min_value=-3, max_value=3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(
        [
            np.int64(2),
            np.float32(1.5),
            2**64,
            -1,
            0,
            float("inf"),
            "",
            " ",
            "cuda",
            "cuda:7",
            "meta",
            "cpu",
            torch.device("meta"),
            torch.int8,
            torch.float64,
            "bf16",
            "pretrained",
            "random",
            "auto",
            "../..",
            "/dev/zero",
            "/etc/passwd",
            Path("/nonexistent/weights.pt"),
            (3, 32, 32),
            (3, -32, 32),
            object(),
        ]
    ),
)
#: sizes: junk, or an integer either tiny or far beyond memory (a mid-sized real batch is slow, not wrong)
SIZES = st.one_of(
    JUNK.filter(lambda v: not isinstance(v, int) or isinstance(v, bool) or v < 1 or v > 10**9),
    st.integers(min_value=1, max_value=2),
)
OUTPUTS = JUNK  # non-tensor outputs: decode_output must refuse them with a TypeError


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    tried = sum(STATS.values())
    print(f"\nfuzz: {tried} inputs tried, {STATS['typed']} typed errors, {STATS['ok']} accepted")


_instances: dict[str, object] = {}


def _loader(name: str):
    if name not in _instances:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _instances[name] = LOADERS[name]()
    return _instances[name]


def _check(call) -> None:
    import time

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
        STATS["ok"] += 1
    except TYPED:
        STATS["typed"] += 1
    except Exception as err:  # noqa: BLE001 - the property under test
        pytest.fail(f"untyped {type(err).__name__}: {err}")
    finally:
        elapsed = time.perf_counter() - start
        assert elapsed < CALL_LIMIT_S, f"took {elapsed:.1f} s"


FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
NAMES = st.sampled_from(sorted(LOADERS))


@FUZZ
@given(NAMES, JUNK)
def test_constructor(name, value):
    _check(lambda: LOADERS[name](value))


@FUZZ
@given(NAMES, st.sampled_from(["dtype_override", "weights", "seed", "num_layers"]), JUNK)
def test_load_model_on_meta(name, parameter, value):
    _check(lambda: _loader(name).load_model(device="meta", **{parameter: value}))


@FUZZ
@given(NAMES, JUNK)
def test_load_model_device(name, value):
    # The device is resolved first; an accepted one then meets a weights= that is always refused.
    _check(lambda: _loader(name).load_model(device=value, weights="not-a-choice"))


@FUZZ
@given(NAMES, st.sampled_from(["num_layer", "layers", "foo"]), JUNK)
def test_load_model_unknown_keyword(name, keyword, value):
    _check(lambda: _loader(name).load_model(device="meta", **{keyword: value}))


@FUZZ
@given(NAMES, SIZES)
def test_load_inputs_batch_size(name, value):
    _check(lambda: _loader(name).load_inputs(batch_size=value))


@FUZZ
@given(NAMES, JUNK)
def test_load_inputs_dtype(name, value):
    _check(lambda: _loader(name).load_inputs(dtype_override=value))


@FUZZ
@given(NAMES, st.sampled_from(["seq_len", "mode", "image", "input_size", "foo"]), st.one_of(SIZES, JUNK))
def test_load_inputs_family_keywords(name, keyword, value):
    if keyword == "seq_len" and isinstance(value, int) and not isinstance(value, bool) and 1000 < value <= 10**9:
        value = 2  # a real long prompt is slow, not wrong
    _check(lambda: _loader(name).load_inputs(**{keyword: value}))


@FUZZ
@given(NAMES, OUTPUTS)
def test_decode_output(name, value):
    _check(lambda: _loader(name).decode_output(value))


@FUZZ
@given(NAMES, JUNK)
def test_decode_output_top_k(name, value):
    logits = torch.zeros(1, 1000)
    _check(lambda: _loader(name).decode_output(logits, top_k=value))
