"""``loader.source``: the WeightsSource of a loader's variant, built once per loader by the one hook
``_build_source``; ``load_config()`` is the source's; a loader's model name is its folder's."""

from __future__ import annotations

import warnings

import pytest

from tt_forge_models.testing import all_variants
from tt_forge_models.weights import WeightsSource

EVERY_VARIANT = all_variants(framework="pytorch", large_params=float("inf"))


@pytest.mark.parametrize("entry", EVERY_VARIANT)
def test_source_is_built_once_per_loader(entry, monkeypatch):
    cls = entry.loader
    built = []
    real = cls._build_source

    def counting(self):
        built.append(self)
        return real(self)

    monkeypatch.setattr(cls, "_build_source", counting)
    loader = entry.make_loader()
    source = loader.source
    assert isinstance(source, WeightsSource) and loader.source is source
    loader.load_model(device="meta")
    loader.load_config()
    assert built == [loader], "load_model and load_config use the loader's one source"
    other = entry.make_loader()
    assert other.source is not source, "each loader has its own"
    assert source.describe() == other.source.describe()


@pytest.mark.parametrize("entry", EVERY_VARIANT)
def test_load_config_is_the_sources_and_the_model_is_named_by_its_folder(entry):
    loader = entry.make_loader()
    config = loader.load_config()
    if entry.config.source == "huggingface":
        assert config.to_dict() == loader.source.load_config().to_dict()
        assert config is not loader.load_config(), "callers get their own copy to change"
    else:
        assert config is None
        with pytest.raises(TypeError, match="num_layers: .* has no architecture config"):
            loader.load_config(num_layers=1)
    assert entry.info.model == entry.model


def test_causal_lm_reads_its_config_once(monkeypatch):
    import torch

    from tt_forge_models.gpt2.pytorch import ModelLoader

    loader = ModelLoader()
    reads = []
    real = loader.source.load_config

    def counting(**kwargs):
        reads.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(loader.source, "load_config", counting)
    with warnings.catch_warnings():  # without a cached tokenizer: synthetic ids, with a warning
        warnings.simplefilter("ignore")
        inputs = loader.load_inputs(batch_size=2)
        loader.get_mesh_config(1)
        loader.decode_output(torch.zeros(2, inputs["input_ids"].shape[1], 50257))
    assert reads == [{}]
