"""Hugging Face folders load without ``from_pretrained`` when their safetensors are exactly the
model's tensors, and give what ``from_pretrained`` gives: the same state dict (values and dtypes),
buffers, ties, config and outputs. Folders that only transformers reads right still go through it."""

from __future__ import annotations

import contextlib
import json
import warnings

import pytest
import safetensors.torch
import torch
import transformers

from tt_forge_models import CorruptWeightsError, PreprocessorFallbackWarning
from tt_forge_models.bert import ModelLoader as Bert
from tt_forge_models.llama import ModelLoader as Llama

NARROW_LLAMA = dict(hidden_size=64, intermediate_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=16)
CASES = {
    "bert": (lambda: Bert("all_minilm_l6_v2"), dict(num_layers=2)),
    "llama": (lambda: Llama(), dict(num_layers=2, **NARROW_LLAMA)),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Per case: a single-file folder and a sharded one, both of the same seeded random model."""
    root = tmp_path_factory.mktemp("hf")
    made = {}
    for name, (make, options) in CASES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PreprocessorFallbackWarning)
            model = make().load_model(weights="random", seed=5, **options)
        model.save_pretrained(root / name)
        model.save_pretrained(root / f"{name}-sharded", max_shard_size="200KB")
        made[name] = root
    return made


@contextlib.contextmanager
def _no_from_pretrained(monkeypatch):
    """Any ``from_pretrained`` of a model class fails inside: proves a load did not use it."""

    def refuse(*args, **kwargs):
        raise AssertionError("from_pretrained was called")

    with monkeypatch.context() as patched:
        patched.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(refuse))
        yield


def _reference(loader, folder, dtype, options):
    """What transformers itself gives for the folder, with the config our loader checked."""
    source = loader.source
    overrides = {k: v for k, v in options.items() if k != "num_layers"}
    config = source._checked_folder_config(folder, num_layers=options.get("num_layers"), overrides=overrides)
    return source._from_pretrained(str(folder), dtype=dtype, config=config, local_files_only=True).eval()


def _assert_same(ours, ref, loader, dtype):
    a, b = ours.state_dict(), ref.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
    assert dict(ours.named_buffers()).keys() == dict(ref.named_buffers()).keys()
    for (name, x), (_, y) in zip(ours.named_buffers(), ref.named_buffers()):
        assert x.dtype == y.dtype and torch.equal(x, y), name  # position ids, RoPE inv_freq
    assert ours.config.to_dict() == ref.config.to_dict()
    if ref.can_generate():
        assert ours.generation_config.to_dict() == ref.generation_config.to_dict()
        tied = ref.lm_head.weight is ref.get_input_embeddings().weight
        assert (ours.lm_head.weight is ours.get_input_embeddings().weight) == tied
    inputs = loader.load_inputs(dtype_override=dtype, batch_size=2)
    with torch.no_grad():
        out_a, out_b = loader.call_model(ours, inputs), loader.call_model(ref, inputs)
    for key in out_b.keys():
        if isinstance(out_b[key], torch.Tensor):
            assert torch.equal(out_a[key], out_b[key]), key


@pytest.mark.parametrize("dtype", [None, torch.bfloat16], ids=["fp32", "bf16"])
@pytest.mark.parametrize("form", ["single", "sharded"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_folder_is_assigned_and_equals_from_pretrained(folders, monkeypatch, case, form, dtype):
    make, options = CASES[case]
    folder = folders[case] / (case if form == "single" else f"{case}-sharded")
    assert (folder / ("model.safetensors" if form == "single" else "model.safetensors.index.json")).is_file()
    loader = make()
    with _no_from_pretrained(monkeypatch):
        ours = loader.load_model(weights=folder, dtype_override=dtype, **options)
    assert loader.weights_source == f"local:{folder}" and not ours.training
    _assert_same(ours, _reference(loader, folder, dtype, options), loader, dtype)


def test_a_cut_folder_drops_the_layers_beyond_the_cut(folders, monkeypatch):
    folder = folders["llama"] / "llama-sharded"
    options = dict(num_layers=1, **NARROW_LLAMA)
    loader = Llama()
    with _no_from_pretrained(monkeypatch):
        ours = loader.load_model(weights=folder, **options)
    assert ours.config.num_hidden_layers == 1
    _assert_same(ours, _reference(loader, folder, None, options), loader, None)


def test_names_only_transformers_knows_go_through_from_pretrained(tmp_path, folders, monkeypatch):
    """Legacy LayerNorm names (gamma, beta): transformers renames them; assigning could not."""
    folder = tmp_path / "legacy"
    folder.mkdir()
    source = folders["bert"] / "bert"
    (folder / "config.json").write_bytes((source / "config.json").read_bytes())
    state = safetensors.torch.load_file(source / "model.safetensors")
    renamed = {
        k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta"): v
        for k, v in state.items()
    }
    assert renamed.keys() != state.keys()
    safetensors.torch.save_file(renamed, folder / "model.safetensors", metadata={"format": "pt"})
    loader = Bert("all_minilm_l6_v2")
    calls = []
    original = transformers.PreTrainedModel.from_pretrained.__func__

    def counted(cls, *args, **kwargs):
        calls.append(args[0])
        return original(cls, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(transformers.PreTrainedModel, "from_pretrained", classmethod(counted))
        ours = loader.load_model(weights=folder, num_layers=2)
    assert calls == [str(folder)]
    _assert_same(ours, _reference(loader, folder, None, dict(num_layers=2)), loader, None)
    saved = loader.load_model(weights=source, num_layers=2).state_dict()
    assert all(torch.equal(saved[k], v) for k, v in ours.state_dict().items())


def test_a_shard_outside_the_folder_is_refused(tmp_path, folders):
    folder = tmp_path / "escape"
    folder.mkdir()
    source = folders["bert"] / "bert-sharded"
    for item in source.iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    index = json.loads((folder / "model.safetensors.index.json").read_text())
    first = next(iter(index["weight_map"]))
    index["weight_map"][first] = "../elsewhere.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CorruptWeightsError, match="shards must be file names"):
        Bert("all_minilm_l6_v2").load_model(weights=folder, num_layers=2)
