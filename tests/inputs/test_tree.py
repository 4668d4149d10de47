"""The one walk over nested inputs and outputs (``inputs/tree.py``): its paths and order are the ones
the goldens store, checked against the walker it replaced; containers are rebuilt as themselves;
KV caches are walked for their tensors but passed along, never copied."""

from __future__ import annotations

from collections import OrderedDict, namedtuple
from collections.abc import Mapping

import pytest
import torch

from tt_forge_models.inputs import cast_floating, first_tensor
from tt_forge_models.inputs.devices import move_to
from tt_forge_models.inputs.tree import caches, children, flatten, map_tensors, path_str, tensors
from tt_forge_models.testing import flatten_outputs

Pair = namedtuple("Pair", "first second")


def _t(*shape, value=1.0):
    return torch.full(shape, value)


def _cache(layers=2):
    from transformers import DynamicCache

    data = [(_t(1, 2, 3, 4, value=float(i)), _t(1, 2, 3, 4, value=-float(i))) for i in range(layers)]
    return DynamicCache(ddp_cache_data=data)


def _reference_paths(output, prefix=""):
    """testing.flatten_outputs as it was written before the shared walker, kept to prove that the
    paths and their order did not move."""
    if isinstance(output, torch.Tensor):
        return [prefix]
    if isinstance(output, Mapping):
        items = [(f"{prefix}.{k}" if prefix else str(k), v) for k, v in output.items()]
    elif isinstance(output, (list, tuple)):
        items = [(f"{prefix}[{i}]", v) for i, v in enumerate(output)]
    elif hasattr(output, "key_cache") or hasattr(output, "layers"):
        layers = output.layers
        cache = [t for layer in layers for t in (getattr(layer, "keys", None), getattr(layer, "values", None))]
        items = [(f"{prefix}.cache", cache)]
    else:
        return []
    return [path for p, v in items if v is not None for path in _reference_paths(v, p)]


def _structures():
    from transformers import BatchEncoding
    from transformers.modeling_outputs import CausalLMOutputWithPast, QuestionAnsweringModelOutput

    g = _t(2, 3)
    return {
        "tensor": g,
        "tuple of maps": (g, g * 2, g * 3),
        "nested": {"a": (g, [g, None]), "b": OrderedDict(c=g), "": {"x": g}, 7: g},
        "namedtuple": Pair(g, [g, {"k": g}]),
        "model output": QuestionAnsweringModelOutput(start_logits=g, end_logits=g * 2),
        "output with cache": CausalLMOutputWithPast(logits=g, past_key_values=_cache()),
        "bare cache": _cache(1),
        "batch encoding": BatchEncoding({"input_ids": g.long(), "attention_mask": g.bool()}),
        "list in tuple": ([g, (g,)], None, "text", 3),
        "empty": {},
    }


@pytest.mark.parametrize("name", list(_structures()))
def test_paths_and_order_are_the_ones_the_goldens_store(name):
    obj = _structures()[name]
    assert [p for p, _ in flatten_outputs(obj)] == _reference_paths(obj)
    assert [t for _, t in flatten_outputs(obj)] == tensors(obj) or not tensors(obj)


def test_paths_spelled_out():
    s = _structures()
    assert [p for p, _ in flatten_outputs(s["nested"])] == ["a[0]", "a[1][0]", "b.c", "x", "7"]
    assert [p for p, _ in flatten_outputs(s["namedtuple"])] == ["[0]", "[1][0]", "[1][1].k"]
    assert [p for p, _ in flatten_outputs(s["model output"])] == ["start_logits", "end_logits"]
    assert [p for p, _ in flatten_outputs(s["output with cache"])] == ["logits"] + [
        f"cache.cache[{i}]" for i in range(4)
    ]
    assert [p for p, _ in flatten_outputs(s["bare cache"])] == [".cache[0]", ".cache[1]"]
    assert [p for p, _ in flatten_outputs(s["tensor"], "out")] == ["out"]
    assert path_str(()) == ""


def test_map_rebuilds_each_container_as_itself():
    s = _structures()
    double = lambda t: t * 2  # noqa: E731
    pair = map_tensors(s["namedtuple"], double)
    assert type(pair) is Pair and torch.equal(pair.second[1]["k"], s["namedtuple"].second[1]["k"] * 2)
    out = map_tensors(s["model output"], double)
    assert type(out) is type(s["model output"]) and torch.equal(out.end_logits, s["model output"].end_logits * 2)
    nested = map_tensors(s["nested"], double)
    assert type(nested["b"]) is OrderedDict and nested["a"][1][1] is None and list(nested) == list(s["nested"])
    assert type(map_tensors(s["batch encoding"], double)) is dict, "a mapping pytree does not know becomes a dict"
    kept = map_tensors(s["list in tuple"], double)
    assert kept[1:] == (None, "text", 3)


def test_caches_are_passed_along_not_copied():
    cache = _cache()
    inputs = {"input_ids": torch.ones(1, 1, dtype=torch.long), "cache": cache}
    assert map_tensors(inputs, lambda t: t * 0)["cache"] is cache
    assert move_to(inputs, "cpu")["cache"] is cache
    assert list(caches({"x": [inputs]})) == [cache]
    assert children(cache) == [], "a cache is a leaf of the structure"


def test_cast_floating_casts_inputs_and_a_cache_in_place():
    cache = _cache()
    inputs = {"ids": torch.ones(2, dtype=torch.long), "pixels": Pair(_t(2), [_t(2)]), "cache": cache}
    cast = cast_floating(inputs, torch.bfloat16)
    assert cast["ids"].dtype == torch.long and cast["pixels"].first.dtype == torch.bfloat16
    assert type(cast["pixels"]) is Pair and cast["pixels"].second[0].dtype == torch.bfloat16
    assert cast["cache"] is cache and all(t.dtype == torch.bfloat16 for t in tensors(cache))
    assert cast_floating(inputs, None) is inputs


def test_an_encoder_decoder_cache_is_one_cache_of_both_parts():
    from transformers import DynamicCache, EncoderDecoderCache

    own = DynamicCache(ddp_cache_data=[(_t(1, 2, 3, 4), _t(1, 2, 3, 4))])
    cross = DynamicCache(ddp_cache_data=[(_t(1, 2, 5, 4), _t(1, 2, 5, 4))])
    cache = EncoderDecoderCache(own, cross)
    inputs = {"decoder_input_ids": torch.ones(1, 1, dtype=torch.long), "cache": cache}
    assert list(caches(inputs)) == [cache] and children(cache) == []
    assert [p for p, _ in flatten_outputs(inputs)] == ["decoder_input_ids"] + [f"cache.cache[{i}]" for i in range(4)]
    assert [t.shape[2] for t in tensors(cache)] == [3, 3, 5, 5]  # self-attention first, then cross
    assert cast_floating(inputs, torch.bfloat16)["cache"] is cache
    assert all(t.dtype == torch.bfloat16 for t in tensors(cache))


def test_first_tensor_prefers_logits_at_each_level():
    from transformers.modeling_outputs import CausalLMOutputWithPast, QuestionAnsweringModelOutput

    logits, hidden = _t(1, value=1), _t(1, value=2)
    assert first_tensor(CausalLMOutputWithPast(hidden_states=(hidden,), logits=logits)) is logits
    assert first_tensor((None, {"h": hidden, "logits": logits})) is logits
    assert first_tensor(QuestionAnsweringModelOutput(start_logits=hidden, end_logits=logits)) is hidden
    assert first_tensor(Pair(None, [hidden])) is hidden
    for junk in ({}, [1, 2], "logits", _cache()):
        assert first_tensor(junk) is None
    assert flatten(None) == [] and flatten("text") == []
