"""A frontend's generic test over the zoo: a "device" run (here torch.compile) against the CPU
golden. Copy it into your suite and swap `run_on_device` for your compiler."""

import pytest
import torch

from tt_forge_models.testing import all_variants, assert_pcc, call_model


def run_on_device(model, inputs):
    return call_model(torch.compile(model, backend="aot_eager"), inputs)


@pytest.mark.parametrize("entry", all_variants(max_params=100_000_000))
def test_model_on_device(entry):
    loader = entry.make_loader()
    num_layers = entry.config.test.num_layers
    model = loader.load_model(dtype_override=torch.bfloat16, **({"num_layers": num_layers} if num_layers else {}))
    inputs = loader.load_inputs(dtype_override=torch.bfloat16)
    with torch.no_grad():
        golden = call_model(model, inputs)
        actual = run_on_device(model, inputs)
    assert_pcc(golden, actual, pcc=0.99)
