"""What a frontend may expect of every variant, checked on the reduced instance the suite runs:
golden numerics and bf16 against fp32 for every variant; torch.export, torch.compile and a training
step (the costly checks) once per architecture the tables declare (``distinct_architectures``:
resnet50 from torchvision, timm and Hugging Face is one network)."""

from __future__ import annotations

import warnings

import pytest
import torch

from tt_forge_models.discovery import get_loader
from tt_forge_models.testing import (
    all_variants,
    assert_pcc,
    call_model,
    distinct_architectures,
    golden,
    reduced_input_kwargs,
    reduced_kwargs,
)

VARIANTS = all_variants(framework="pytorch")
ARCHITECTURES = distinct_architectures(VARIANTS)

pytestmark = pytest.mark.filterwarnings(
    "ignore::tt_forge_models.WeightsFallbackWarning",
    "ignore::tt_forge_models.PreprocessorFallbackWarning",
)


def _build(entry, dtype=torch.float32, batch_size=1, **options):
    loader = entry.make_loader()
    model = loader.load_model(weights="random", dtype_override=dtype, **reduced_kwargs(entry), **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = loader.load_inputs(dtype_override=dtype, batch_size=batch_size, **reduced_input_kwargs(entry))
    return loader, model, inputs


@pytest.mark.parametrize("entry", VARIANTS)
def test_matches_golden_fingerprint(entry):
    stored = golden.load(entry)
    assert stored is not None, f"no golden for {entry.id}: run python -m tt_forge_models.golden --update"
    problems = golden.diff(stored, golden.fingerprint(golden.golden_outputs(entry)))
    assert not problems, f"{entry.id} numerics moved against {golden.golden_path(entry).name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("entry", ARCHITECTURES)
def test_torch_export(entry):
    loader, model, inputs = _build(entry)
    args, kwargs = ((), inputs) if isinstance(inputs, dict) else ((inputs,), {})
    reason = entry.config.test.export_unsupported
    if reason is not None:
        # The declaration must stay true: if export starts working, remove it from the table.
        with pytest.raises(Exception):
            torch.export.export(model, args, kwargs, strict=False)
        return
    exported = torch.export.export(model, args, kwargs, strict=False)
    with torch.no_grad():
        assert_pcc(call_model(model, inputs), exported.module()(*args, **kwargs), pcc=0.9999)


@pytest.mark.parametrize("entry", ARCHITECTURES)
def test_torch_compile_matches_eager(entry):
    torch._dynamo.reset()
    loader, model, inputs = _build(entry)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=False)
    with torch.no_grad():
        assert_pcc(call_model(model, inputs), call_model(compiled, inputs), pcc=0.999)


@pytest.mark.parametrize("entry", VARIANTS)
def test_bf16_matches_fp32_by_declared_pcc(entry):
    loader, model, inputs = _build(entry)
    with torch.no_grad():
        fp32 = loader.unpack_forward_output(call_model(model, inputs))
        model_bf16 = model.to(torch.bfloat16)  # the same weights, rounded
        bf16 = loader.unpack_forward_output(call_model(model_bf16, _cast(inputs)))
    assert_pcc(fp32, bf16, pcc=entry.config.test.bf16_pcc)


def _cast(inputs):
    from tt_forge_models.inputs import cast_floating

    return cast_floating(inputs, torch.bfloat16)


def _training_gradients(loader, model, inputs):
    """tt-xla's training comparison: forward in train mode, backpropagate a seeded random gradient
    from ``unpack_forward_output``, read every parameter's gradient."""
    model.zero_grad(set_to_none=True)
    output = loader.unpack_forward_output(call_model(model, inputs))
    gradient = torch.randn(output.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float32)
    output.backward(gradient.to(output.dtype))
    # No copies: the next run's zero_grad(set_to_none=True) leaves these tensors to the caller.
    return [(name, p.grad) for name, p in model.named_parameters() if p.requires_grad]


@pytest.mark.parametrize("entry", ARCHITECTURES)
def test_training_step_reaches_the_first_layer(entry):
    """With ``dropout=0.0`` a training step is deterministic: two runs of one model on the same
    inputs give bit-identical gradients, so a frontend can compare its device's with the CPU's."""
    loader, model, inputs = _build(entry, batch_size=2, dropout=0.0)
    model.train()
    grads = _training_gradients(loader, model, inputs)
    assert all(g is None or torch.isfinite(g).all() for _, g in grads), "gradients must be finite"
    first_name, first_grad = grads[0]
    assert first_grad is not None and first_grad.abs().sum() > 0, f"no gradient reached {first_name}"
    again = _training_gradients(loader, model, inputs)
    assert [n for n, _ in again] == [n for n, _ in grads]
    differ = [n for (n, a), (_, b) in zip(grads, again) if not _same(a, b)]
    assert not differ, f"{len(differ)} of {len(grads)} gradients differ between two identical runs, first {differ[0]}"


def _same(a, b):
    return a is b is None or (a is not None and b is not None and torch.equal(a, b))


def test_without_dropout_zero_training_gradients_differ():
    """The check above can fail: BERT keeps its dropout of 0.1 by default, and two runs differ."""
    loader = get_loader("bert")("base_sst2")
    model = loader.load_model(weights="random", dtype_override=torch.float32, num_layers=1)
    inputs = loader.load_inputs(batch_size=2)
    model.train()
    with torch.random.fork_rng(devices=[]):  # dropout draws from the global RNG; leave it as it was
        first, second = _training_gradients(loader, model, inputs), _training_gradients(loader, model, inputs)
    differ = [n for (n, a), (_, b) in zip(first, second) if not _same(a, b)]
    assert len(differ) > len(first) // 2, differ
