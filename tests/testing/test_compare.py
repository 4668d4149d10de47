"""The comparison helpers consumers judge their compilers with: examples and properties."""

from __future__ import annotations

import math
from collections import OrderedDict

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tt_forge_models.testing import assert_pcc, compare, flatten_outputs, pcc

finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False, width=32)
vectors = st.lists(finite, min_size=2, max_size=64)


@settings(max_examples=200, deadline=None)
@given(vectors)
def test_pcc_of_a_tensor_with_itself_is_one(values):
    t = torch.tensor(values)
    assert pcc(t, t) == 1.0


@settings(max_examples=200, deadline=None)
@given(vectors, vectors)
def test_pcc_is_symmetric_and_bounded(a, b):
    n = min(len(a), len(b))
    x, y = torch.tensor(a[:n]), torch.tensor(b[:n])
    r = pcc(x, y)
    assert -1.0 <= r <= 1.0
    assert math.isclose(r, pcc(y, x), abs_tol=1e-12)


@settings(max_examples=200, deadline=None)
@given(vectors, st.floats(min_value=0.01, max_value=100), st.floats(min_value=-100, max_value=100))
def test_pcc_is_invariant_to_positive_affine_maps(values, scale, shift):
    t = torch.tensor(values, dtype=torch.float64)
    if t.std() < 1e-3 * (t.abs().max() + 1):  # near-constant: correlation is ill-conditioned
        return
    assert pcc(t, t * scale + shift) > 0.999999
    assert pcc(t, -t * scale + shift) < -0.999999


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1, max_value=50), finite)
def test_identical_constant_tensors_count_as_one(n, value):
    t = torch.full((n,), value)
    assert pcc(t, t.clone()) == 1.0


def test_different_constant_tensors_fail():
    assert pcc(torch.ones(5), torch.zeros(5)) == 0.0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_or_inf_mismatch_fails(bad):
    golden = torch.arange(8.0)
    actual = golden.clone()
    actual[3] = bad
    assert pcc(golden, actual) == 0.0
    assert pcc(actual, golden) == 0.0
    assert not compare(golden, actual, pcc=0.5).passed


def test_matching_nan_positions_are_ignored():
    golden = torch.tensor([1.0, float("nan"), 3.0, 4.0])
    assert pcc(golden, golden.clone()) == 1.0
    assert pcc(golden, torch.tensor([1.0, float("nan"), 3.1, 3.9])) > 0.99


def test_bf16_inputs_are_handled_in_float64():
    golden = torch.randn(1000, generator=torch.Generator().manual_seed(0))
    r = pcc(golden, golden.bfloat16())
    assert 0.999 < r < 1.0


def test_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="3 values with 4"):
        pcc(torch.ones(3), torch.ones(4))


def test_compare_walks_nested_outputs():
    from transformers.modeling_outputs import QuestionAnsweringModelOutput

    g = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    golden = QuestionAnsweringModelOutput(start_logits=g, end_logits=g * 2)
    actual = QuestionAnsweringModelOutput(start_logits=g + 1e-4, end_logits=-g)
    report = compare(golden, actual, pcc=0.99)
    assert [leaf.path for leaf in report.leaves] == ["start_logits", "end_logits"]
    assert report.leaves[0].passed and not report.leaves[1].passed and not report.passed
    assert "FAIL end_logits" in str(report)

    nested = {"a": (g, [g, None]), "b": OrderedDict(c=g)}
    paths = [p for p, _ in flatten_outputs(nested)]
    assert paths == ["a[0]", "a[1][0]", "b.c"]
    assert compare(nested, nested).passed


def test_compare_reports_shape_and_structure_mismatches():
    g = torch.ones(2, 3)
    assert "shape" in str(compare(g, torch.ones(3, 2)))
    assert "different outputs" in str(compare((g, g), (g,)))


def test_compare_with_atol_requires_allclose():
    g = torch.linspace(0, 1, 100)
    shifted = g + 0.5  # perfectly correlated, far apart
    assert compare(g, shifted, pcc=0.99).passed
    report = compare(g, shifted, pcc=0.99, atol=1e-3)
    assert not report.passed and not report.leaves[0].allclose
    assert report.leaves[0].max_abs_diff == pytest.approx(0.5)


def test_assert_pcc_fails_with_the_report():
    g = torch.randn(50, generator=torch.Generator().manual_seed(2))
    assert assert_pcc(g, g * 3 + 1).passed
    with pytest.raises(AssertionError, match=r"(?s)FAILED: 1 tensors.*FAIL <output> \[50\] pcc="):
        assert_pcc(g, torch.randn(50, generator=torch.Generator().manual_seed(3)), pcc=0.99)
