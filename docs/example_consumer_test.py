"""A frontend's generic test over the zoo: a "device" run (here torch.compile) against the CPU
golden. Copy it into your suite and swap `run_on_device` for your compiler."""

import pytest
import torch

from tt_forge_models.testing import all_variants, assert_pcc, call_model, reduced_input_kwargs, reduced_kwargs


def run_on_device(model, inputs):
    return call_model(torch.compile(model, backend="aot_eager"), inputs)


@pytest.mark.parametrize("entry", all_variants(framework="pytorch", max_params=100_000_000))
def test_model_on_device(entry):
    loader = entry.make_loader()
    # the reduced instance the zoo's own suite runs (fewer layers, smaller images where declared)
    model = loader.load_model(dtype_override=torch.bfloat16, **reduced_kwargs(entry))
    inputs = loader.load_inputs(dtype_override=torch.bfloat16, **reduced_input_kwargs(entry))
    with torch.no_grad():
        golden = call_model(model, inputs)
        actual = run_on_device(model, inputs)
    assert_pcc(golden, actual, pcc=0.99)
