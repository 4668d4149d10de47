"""Mappings registered with pytree without key paths (diffusers' ``BaseOutput`` registers its
subclasses so) are walked by their keys, and rebuilt as themselves."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch.utils import _pytree as pytree

from tt_forge_models.inputs import cast_floating, first_tensor
from tt_forge_models.inputs.tree import children, flatten, path_str
from tt_forge_models.testing import flatten_outputs


class Unkeyed(OrderedDict):
    pass


pytree.register_pytree_node(
    Unkeyed,
    lambda d: (list(d.values()), list(d.keys())),
    lambda values, keys: Unkeyed(zip(keys, values)),
)


def test_an_unkeyed_mapping_is_walked_by_its_keys():
    out = Unkeyed(sample=torch.ones(1, 2), extra=[torch.zeros(3)])
    assert pytree.SUPPORTED_NODES[Unkeyed].flatten_with_keys_fn is None
    assert [path_str(p) for p, _ in flatten(out)] == ["sample", "extra[0]"]
    assert [k.key for k, _ in children(out)] == ["sample", "extra"]
    assert first_tensor(out) is out["sample"]
    cast = cast_floating(out, torch.bfloat16)
    assert type(cast) is Unkeyed and cast["sample"].dtype == torch.bfloat16 and cast["extra"][0].dtype == torch.bfloat16


def test_a_diffusers_output_is_walked_like_a_model_output():
    from diffusers.models.unets.unet_2d_condition import UNet2DConditionOutput

    out = UNet2DConditionOutput(sample=torch.ones(1, 4, 2, 2))
    assert [path for path, _ in flatten_outputs(out)] == ["sample"]
    assert first_tensor(out) is out.sample
    assert type(cast_floating(out, torch.bfloat16)) is UNet2DConditionOutput
