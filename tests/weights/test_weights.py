"""The weights policy on real loading paths, fed from caches and folders the tests fill themselves."""

from __future__ import annotations

import pytest
import torch

from tt_forge_models.resnet.pytorch import ModelLoader, ModelVariant
from tt_forge_models.weights import save_safetensors

from helpers import run_python

REV_HF = ModelLoader._VARIANTS[ModelVariant.RESNET_50_HF].weights.revision
REV_TIMM = ModelLoader._VARIANTS[ModelVariant.RESNET_50_TIMM].weights.revision


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("variant", [ModelVariant.RESNET_18, ModelVariant.RESNET_50_HF, ModelVariant.RESNET_50_TIMM])
def test_local_safetensors_round_trip(variant, tmp_path):
    loader = ModelLoader(variant)
    saved = loader.load_model(weights="random", seed=7)
    path = save_safetensors(saved, tmp_path / "weights.safetensors")
    assert not list(tmp_path.glob(".*.tmp")), "no temporary file is left behind"
    loaded = loader.load_model(weights=path)
    assert loader.weights_source == f"local:{path}"
    assert _same_state(saved, loaded)
    bf16 = loader.load_model(weights=path, dtype_override=torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 for p in bf16.parameters())


def test_state_dict_tensors_become_the_parameters_without_a_copy(monkeypatch, tmp_path):
    """A file's tensors in the target dtype are assigned onto the meta-built model as they are
    (one copy of the weights in memory, not two); others are cast once; ties stay tied."""
    import tt_forge_models.weights.constructed as constructed
    from tt_forge_models.gpt2.pytorch import ModelLoader as GPT2

    loader = ModelLoader(ModelVariant.RESNET_18)
    state = {k: v.clone() for k, v in loader.load_model(weights="random", seed=3).state_dict().items()}
    monkeypatch.setattr(constructed, "read_state_dict", lambda path: state)
    file = tmp_path / "weights.safetensors"
    file.write_bytes(b"read through the patched reader")
    model = loader.load_model(weights=file)
    assert model.conv1.weight.data_ptr() == state["conv1.weight"].data_ptr()
    assert model.bn1.running_var.data_ptr() == state["bn1.running_var"].data_ptr()
    bf16 = loader.load_model(weights=file, dtype_override=torch.bfloat16)
    assert bf16.conv1.weight.dtype == torch.bfloat16 and torch.equal(bf16.fc.bias, state["fc.bias"].bfloat16())
    assert bf16.bn1.num_batches_tracked.dtype == torch.long

    gpt2 = GPT2()
    tied = gpt2.load_model(weights="random", num_layers=1)
    path_state = {k: v for k, v in tied.state_dict().items() if k != "lm_head.weight"}  # saved once
    import tt_forge_models.weights.huggingface as huggingface

    monkeypatch.setattr(huggingface, "read_state_dict", lambda path: path_state)
    again = gpt2.load_model(weights=file, num_layers=1)
    assert again.lm_head.weight is again.transformer.wte.weight, "tied weights stay one tensor"
    assert torch.equal(again.transformer.wte.weight, tied.transformer.wte.weight)


def test_local_torch_checkpoint_is_read_weights_only(tmp_path):
    loader = ModelLoader(ModelVariant.RESNET_18)
    saved = loader.load_model(weights="random", seed=1)
    path = tmp_path / "resnet18.pth"
    torch.save(saved.state_dict(), path)
    assert _same_state(saved, loader.load_model(weights=path))


def test_hf_save_pretrained_folder(tmp_path):
    loader = ModelLoader(ModelVariant.RESNET_50_HF)
    saved = loader.load_model(weights="random", seed=2)
    saved.save_pretrained(tmp_path / "resnet")
    assert _same_state(saved, loader.load_model(weights=tmp_path / "resnet"))


def test_pretrained_from_filled_caches_with_the_hub_off(tmp_path):
    """Each source's real pretrained path, reading caches laid out as the hub and torch hub do."""
    hf_cache = tmp_path / "hf" / "hub"
    torch_home = tmp_path / "torch"
    run_python(
        f"""
        import torch, torchvision
        from pathlib import Path
        from tt_forge_models.resnet.pytorch import ModelLoader, ModelVariant
        from tt_forge_models.weights import save_safetensors

        hf = Path({str(hf_cache)!r})

        def snapshot(repo, rev):
            folder = hf / ("models--" + repo.replace("/", "--"))
            (folder / "refs").mkdir(parents=True)
            (folder / "refs" / "main").write_text(rev)
            return folder / "snapshots" / rev

        # Hugging Face: a save_pretrained snapshot at the pinned revision.
        m = ModelLoader(ModelVariant.RESNET_50_HF).load_model(weights="random", seed=11)
        m.save_pretrained(snapshot("microsoft/resnet-50", {REV_HF!r}))
        # timm: model.safetensors in the timm hub repo at the pinned revision.
        m = ModelLoader(ModelVariant.RESNET_50_TIMM).load_model(weights="random", seed=12)
        save_safetensors(m, snapshot("timm/resnet50.a1_in1k", {REV_TIMM!r}) / "model.safetensors")
        # torchvision: the checkpoint file in the torch hub cache.
        m = ModelLoader(ModelVariant.RESNET_18).load_model(weights="random", seed=13)
        url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
        ckpt = Path({str(torch_home)!r}) / "hub" / "checkpoints"
        ckpt.mkdir(parents=True)
        torch.save(m.state_dict(), ckpt / url.rsplit("/", 1)[1])
        """,
        env={"HF_HUB_CACHE": str(hf_cache), "TORCH_HOME": str(torch_home)},
    )
    run_python(
        """
        import warnings, torch
        from tt_forge_models.resnet.pytorch import ModelLoader, ModelVariant

        warnings.simplefilter("error")  # a fallback to random weights would be an error here
        # The planted torchvision file is ours, not the release: declare its digest, as a row does.
        import dataclasses, hashlib, torchvision
        from pathlib import Path
        url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
        planted = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[1]
        row = ModelLoader._VARIANTS[ModelVariant.RESNET_18]
        ModelLoader._VARIANTS[ModelVariant.RESNET_18] = dataclasses.replace(
            row, weights=dataclasses.replace(row.weights, sha256=hashlib.sha256(planted.read_bytes()).hexdigest())
        )
        for variant, seed in [("resnet_50_hf", 11), ("resnet50_timm", 12), ("resnet18", 13)]:
            loader = ModelLoader(variant)
            expected = loader.load_model(weights="random", seed=seed).state_dict()
            for weights in ("pretrained", "auto"):
                got = loader.load_model(weights=weights, dtype_override=torch.bfloat16)
                assert loader.weights_source == "pretrained", (variant, loader.weights_source)
                state = got.state_dict()
                assert state.keys() == expected.keys(), variant
                for key, value in expected.items():
                    want = value.to(torch.bfloat16) if value.is_floating_point() else value
                    assert torch.equal(state[key], want), (variant, key)
            assert loader.source.is_cached()
        print("ok")
        """,
        env={
            "HF_HUB_CACHE": str(hf_cache),
            "TORCH_HOME": str(torch_home),
            "HF_HUB_OFFLINE": "1",
            "TT_FORGE_MODELS_OFFLINE": "1",
        },
    )


def test_meta_build_allocates_nothing():
    model = ModelLoader(ModelVariant.RESNET_152).load_model(device="meta", dtype_override=torch.bfloat16)
    assert all(p.is_meta and p.dtype == torch.bfloat16 for p in model.parameters())


def test_meta_construction_skips_only_the_fills_of_meta_tensors():
    """A constructor's init of a meta parameter does nothing (it has no values) and is skipped, so
    it costs nothing and reads no generator; fills of real buffers still run."""
    from torch import nn
    from torch.overrides import TorchFunctionMode

    from tt_forge_models.weights.materialize import construct_on_meta

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(3, 3))
            self.register_buffer("table", torch.zeros(3))
            nn.init.kaiming_normal_(self.weight)
            self.weight.data.uniform_()
            self.table.fill_(7.0)
            self.norm = nn.BatchNorm1d(4)

    class Recorder(TorchFunctionMode):  # below ours on the mode stack: sees what ours lets through
        calls: list = []

        def __torch_function__(self, func, types, args=(), kwargs=None):
            target = args[0] if args else None
            self.calls.append((getattr(func, "__name__", ""), isinstance(target, torch.Tensor) and target.is_meta))
            return func(*args, **(kwargs or {}))

    rng = torch.random.get_rng_state()
    with Recorder():
        for buffers_on_meta in (False, True):
            model = construct_on_meta(Probe, buffers_on_meta=buffers_on_meta)
            assert model.weight.is_meta and model.norm.weight.is_meta
    assert torch.equal(rng, torch.random.get_rng_state())
    reached = set(Recorder.calls)
    assert not {c for c in reached if c[1] and c[0] in ("kaiming_normal_", "uniform_", "fill_", "ones_", "zeros_")}
    assert ("fill_", False) in reached  # the real buffer of the first build
    model = construct_on_meta(Probe, buffers_on_meta=False)
    assert torch.equal(model.table, torch.full((3,), 7.0)) and torch.equal(model.norm.running_var, torch.ones(4))
