"""tt-xla's model runner, emulated: its discovery, its calls and its way of feeding inputs.

Written from tenstorrent/tt-xla (commit 95c1c1ce, 2026-08-21), not copied from it:

- ``tests/runner/utils/dynamic_loader.py``: ``setup_models_path`` puts the models root and its
  parent on ``sys.path``; ``TorchDynamicLoader.discover_loader_paths`` walks for
  ``pytorch/loader.py``; ``import_loader_module`` loads each file with the spec name
  ``tt_forge_models.<rel>.loader``, ``__package__`` set, registered in ``sys.modules`` under the
  *dashed* key ``tt-forge-models.<rel>.loader``; ``get_model_variants`` adds every
  ``ForgePrefillModel`` subclass defined in the module beside ``ModelLoader``;
  ``generate_test_id`` gives ``<rel>-<variant>``.
- ``TorchDynamicLoader.load_model``/``load_inputs``: ``dtype_override=torch.bfloat16`` when the
  signature has it, ``batch_size`` when given; decode via ``load_inputs_decode``, prefill via
  ``load_inputs_prefill(dtype_override=, batch_size=, seq_len=)``.
- ``tests/runner/test_models.py``: regular entries exclude prefill loaders; ``ModelLoader(variant=)``,
  ``ModelLoader.get_model_info(variant=)``, ``loader.load_config()``, ``to_report_dict()``;
  ``_EXPLICIT_STRATEGY_MESH_SHAPES`` and ``_validate_llm_sharding_mesh_combination``.
- ``tests/runner/conftest.py`` (``_get_model_group_from_item``): RED, GENERALITY, VULCAN, PRIORITY
  read from ``type(model_info.group)``.
- ``tests/infra/testers/single_chip/model/torch_model_tester.py``: a tensor is passed
  positionally, a list as ``*args``, a dict as ``**kwargs``; training calls ``model.train()``,
  backpropagates a random gradient from ``unpack_forward_output`` and collects ``p.grad``.
- ``testers/torch/dynamic_torch_model_tester.py``: ``batch_size=2`` in training; for
  ``ForgePrefillModel`` ``load_shard_spec(model, strategy=, batch_axis="data" if inputs are
  sharded else "batch")``; ``tests/infra/runners/torch_device_runner.py`` then calls
  ``xs.mark_sharding(tensor, mesh, spec)`` on each key, so keys are the model's parameters.

The forwards run the reduced instances the table declares (``num_layers``, ``input_size``), an
extra of ours the runner would not pass, so the default suite fits on two cores.
"""

from __future__ import annotations

import collections.abc
import json
import os
import warnings
from pathlib import Path

import pytest
import torch

import tt_forge_models
from tt_forge_models.base import ForgePrefillModel
from tt_forge_models.testing import all_variants, distinct_architectures, reduced_input_kwargs, reduced_kwargs

from helpers import TESTS, run_python
from test_packaging import _copy_tree
from xla_runner import discover

MODELS_ROOT = Path(tt_forge_models.__file__).resolve().parent
# _EXPLICIT_STRATEGY_MESH_SHAPES in tests/runner/test_models.py
MESHES = [(1, 4), (2, 2), (1, 8), (2, 4), (4, 8)]

pytestmark = pytest.mark.filterwarnings(
    "ignore::tt_forge_models.WeightsFallbackWarning",
    "ignore::tt_forge_models.PreprocessorFallbackWarning",
)


ENTRIES = discover(MODELS_ROOT)
REGULAR = {test_id: (variant, cls) for test_id, variant, cls in ENTRIES if not issubclass(cls, ForgePrefillModel)}
PREFILL = [(test_id, variant, cls) for test_id, variant, cls in ENTRIES if issubclass(cls, ForgePrefillModel)]
DECODE = [test_id for test_id, (variant, cls) in REGULAR.items() if hasattr(cls, "load_inputs_decode")]
# Our own discovery's entries, for the table's reduced sizes and the `large` mark.
OURS = {p.id: p for p in all_variants(framework="pytorch", large_params=float("inf"))}
SUITE = all_variants(framework="pytorch")
# Training (the costly half) once per architecture the table declares: resnet50 from torchvision,
# timm and Hugging Face is one network, so is an Instruct row beside its base row.
TRAINED = {p.id for p in distinct_architectures(SUITE)}
# Tasks whose loaders generate token by token and so have a decode step.
DECODING_TASKS = {"nlp_causal_lm", "nlp_translation", "nlp_summarization"}


def test_discovery_under_the_dashed_module_key_finds_every_variant():
    assert set(REGULAR) == set(OURS), "tt-xla's walk must find exactly the variants our discovery lists"
    assert {test_id for test_id, _, _ in PREFILL} == {i for i in OURS if i.startswith("llama/")}
    # The runner sweeps RunPhase.LLM_DECODE over every loader with load_inputs_decode: the causal
    # LMs and the encoder-decoders, whose decode step carries an EncoderDecoderCache.
    decoding = {i for i, p in OURS.items() if p.values[0].config.task in DECODING_TASKS}
    assert set(DECODE) == decoding and {"gpt2/pytorch-gpt2", "t5/pytorch-small"} <= decoding
    for test_id, variant, cls in ENTRIES:
        assert cls.__module__ == f"tt_forge_models.{test_id.split('-')[0].replace('/', '.')}.loader"
        info = cls.get_model_info(variant=variant)  # the class-level call of the runner
        group_enum = type(info.group)
        assert info.group in (group_enum.RED, group_enum.GENERALITY, group_enum.VULCAN, group_enum.PRIORITY)
        report = info.to_report_dict()
        for key in ("task", "source", "framework", "model_arch", "variant_name", "model_name_clean"):
            assert isinstance(report[key], str) and report[key], (test_id, key)


def test_a_second_import_of_a_loader_takes_the_first_imports_variants():
    """tt-xla's import makes a second copy of each loader module; either copy's ModelVariant
    names the same variants (what names a variant is its loader, not the module object)."""
    from tt_forge_models.bert.pytorch import ModelVariant

    variant, cls = REGULAR["bert/pytorch-base_sst2"]
    assert type(variant) is not ModelVariant  # the dashed copy's own enum
    assert cls(ModelVariant.BASE_SST2).variant == variant
    from tt_forge_models.llama.pytorch import ModelVariant as LlamaVariant

    with pytest.raises(ValueError, match="another loader's variant enum"):
        cls(LlamaVariant.LLAMA_3_2_1B)


def _feed(model, inputs):
    """TorchModelTester._get_forward_method_args/_kwargs."""
    if isinstance(inputs, torch.Tensor):
        return model(inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    assert isinstance(inputs, collections.abc.Mapping), type(inputs)
    return model(**inputs)


def _grads(model):
    return {name: p.grad for name, p in model.named_parameters() if p.requires_grad and p.grad is not None}


@pytest.mark.parametrize("test_id", [pytest.param(p.id, marks=p.marks, id=p.id) for p in SUITE])
def test_runner_flow(test_id):
    """Inference as the runner does it (bf16 model and inputs, decode by keyword), the multi-chip
    hooks, and (once per architecture) a training step with batch 2."""
    variant, cls = REGULAR[test_id]
    entry = OURS[test_id].values[0]
    reduced, reduced_inputs = reduced_kwargs(entry), reduced_input_kwargs(entry)
    loader = cls(variant=variant)
    info = cls.get_model_info(variant=variant)
    assert info.name.startswith(f"pytorch_{info.model}_{variant}_")
    assert loader.load_config() is not None or info.source != "huggingface"

    # dropout=0.0: the documented way to a deterministic training model (the runner compares runs).
    model = loader.load_model(dtype_override=torch.bfloat16, weights="random", dropout=0.0, **reduced)
    assert all(t.dtype == torch.bfloat16 for t in model.state_dict().values() if t.is_floating_point())
    inputs = loader.load_inputs(dtype_override=torch.bfloat16, **reduced_inputs)
    with torch.no_grad():
        outputs = _feed(model, inputs)
    unpacked = loader.unpack_forward_output(outputs)
    assert unpacked.shape[0] == 1 and torch.isfinite(unpacked.float()).all()
    decoded = loader.decode_output(outputs=outputs)
    assert decoded is not None and not isinstance(decoded, torch.Tensor)

    # Multi-chip hooks: a pair always; specs keyed by the model's own parameter tensors.
    mesh_shape, mesh_names = loader.get_mesh_config(4)
    assert isinstance(mesh_names, tuple)
    spec = loader.load_shard_spec(model)
    if mesh_shape is None:
        assert mesh_names == () and spec is None
    else:
        params = {id(p) for p in model.parameters()}
        assert spec and all(id(tensor) in params for tensor in spec), "shard spec keys must be parameter tensors"
    assert loader.requires_model_rewrites is False and loader.get_weight_dtype_config_path() is None

    if test_id not in TRAINED:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = loader.load_inputs(dtype_override=torch.bfloat16, batch_size=2, **reduced_inputs)
    model.train()
    output = loader.unpack_forward_output(_feed(model, inputs))
    assert isinstance(output, torch.Tensor) and output.shape[0] == 2
    gradient = torch.randn(output.shape, dtype=output.dtype, generator=torch.Generator().manual_seed(0))
    output.backward(gradient=gradient)
    grads = _grads(model)
    assert grads and all(torch.isfinite(g.float()).all() for g in grads.values())


def test_llm_decode_and_prefill_phases():
    """RunPhase.LLM_DECODE on the regular loader, LLM_PREFILL on the prefill one (at one layer)."""
    variant, cls = REGULAR["llama/pytorch-llama_3_2_1b"]
    loader = cls(variant=variant)
    model = loader.load_model(dtype_override=torch.bfloat16, weights="random", num_layers=1)
    decode = loader.load_inputs_decode(dtype_override=torch.bfloat16, batch_size=1, num_layers=1)
    with torch.no_grad():
        logits = _feed(model, decode).logits
    assert logits.shape[:2] == (1, 1) and torch.isfinite(logits.float()).all()

    _, variant, prefill_cls = next(e for e in PREFILL if e[0] == "llama/pytorch-llama_3_2_1b")
    prefill = prefill_cls(variant=variant)
    assert isinstance(prefill, ForgePrefillModel)
    for batch_size, seq_len in [(1, 128), (4, 1024), (8, 8192)]:
        inputs = prefill.load_inputs_prefill(dtype_override=torch.bfloat16, batch_size=batch_size, seq_len=seq_len)
        assert inputs["input_ids"].shape == inputs["attention_mask"].shape == (batch_size, seq_len)
        assert inputs["input_ids"].dtype == torch.long, "token ids are never cast"
        assert inputs["attention_mask"].to(torch.bool).any(dim=1).all(), "every row has real tokens"
    inputs = prefill.load_inputs_prefill(dtype_override=torch.bfloat16, batch_size=2, seq_len=128)
    with torch.no_grad():
        assert _feed(model, inputs).logits.shape[:2] == (2, 128)


def _strategy_cases():
    """The (mesh, strategy, inputs sharded) combinations test_llms_torch keeps
    (``_validate_llm_sharding_mesh_combination``)."""
    for mesh in MESHES:
        for strategy in ("megatron", "fsdp"):
            for shard_inputs in (False, True):
                if mesh[0] == 1 and (strategy != "megatron" or shard_inputs):
                    continue  # on 1xN fsdp is megatron: tt-xla keeps megatron-no_dp only
                dp = "dp" if shard_inputs else "no_dp"
                yield pytest.param(mesh, strategy, shard_inputs, id=f"{mesh[0]}x{mesh[1]}-{strategy}-{dp}")


STRATEGY_CASES = list(_strategy_cases())


@pytest.mark.parametrize("test_id, variant, cls", PREFILL, ids=[e[0] for e in PREFILL])
def test_prefill_shard_specs_fit_every_swept_mesh(test_id, variant, cls):
    loader = cls(variant=variant)
    model = loader.load_model(device="meta")  # the full depth, shapes only
    params = {id(p): name for name, p in model.named_parameters()}
    seen = set()
    for case in STRATEGY_CASES:
        mesh, strategy, shard_inputs = case.values
        batch_axis = "data" if shard_inputs else "batch"
        axes = {batch_axis: mesh[0], "model": mesh[1]}
        spec = loader.load_shard_spec(model, strategy=strategy, batch_axis=batch_axis)
        assert spec, case.id
        for tensor, placement in spec.items():
            name = params[id(tensor)]  # a parameter of this model, not a copy
            assert len(placement) == tensor.dim(), (case.id, name, placement)
            for size, axis in zip(tensor.shape, placement):
                assert axis is None or axis in axes, (case.id, name, placement)
                assert axis is None or size % axes[axis] == 0, f"{case.id}: {name} {tuple(tensor.shape)} by {placement}"
        q = next(t for t in spec if params[id(t)].endswith("layers.0.self_attn.q_proj.weight"))
        seen.add((strategy, batch_axis, spec[q]))
    assert ("fsdp", "data", ("model", "data")) in seen and ("megatron", "batch", ("model", None)) in seen
    with pytest.raises(ValueError, match="unknown sharding strategy 'zero'"):
        loader.load_shard_spec(model, strategy="zero", batch_axis="batch")


def test_vendored_discovery_in_a_fresh_interpreter(tmp_path):
    """The whole walk where tt-xla does it: a copy at third_party/tt_forge_models, the models root
    and its parent on sys.path, ``from tt_forge_models.base import ForgePrefillModel`` after."""
    root = _copy_tree(tmp_path / "third_party" / "tt_forge_models")
    out = run_python(
        f"""
        import json, os, sys
        sys.path = [p for p in sys.path if "site-packages" in p or "lib/python" in p]
        models_root = {str(root)!r}
        sys.path.insert(0, models_root)
        sys.path.insert(0, os.path.dirname(models_root))
        sys.path.insert(0, {str(TESTS)!r})
        from xla_runner import discover
        from pathlib import Path
        entries = discover(Path(models_root))
        import tt_forge_models
        from tt_forge_models.base import ForgePrefillModel
        assert Path(tt_forge_models.__file__).parent == Path(models_root), tt_forge_models.__file__
        prefill = [e for e in entries if issubclass(e[2], ForgePrefillModel)]
        print(json.dumps({{"entries": len(entries), "prefill": len(prefill),
                          "ids": sorted(e[0] for e in entries if not issubclass(e[2], ForgePrefillModel))}}))
        """,
        cwd=tmp_path,
        env={"PYTHONPATH": "", "PYTHONNOUSERSITE": "1"},
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["ids"] == sorted(OURS)
    assert result["prefill"] == len(PREFILL) and result["entries"] == len(OURS) + len(PREFILL)


def test_tt_forge_fe_per_loader_names(tmp_path):
    """The calls tenstorrent/tt-forge-fe's ``forge/test/models/pytorch`` tests make (commit
    c6f95fba): ResNet ``post_process(co_out)`` and ``post_process(framework_model=,
    compiled_model=, inputs=images, dtype_override=)``, YOLOv4 ``post_processing(co_out)`` whose
    path they then remove, BERT ``decode_output(co_out)`` on the compiled model's list of tensors."""
    from PIL import Image

    from tt_forge_models.bert.pytorch import ModelLoader as Bert
    from tt_forge_models.inputs.vision import sample_image
    from tt_forge_models.resnet.pytorch import ModelLoader as ResNet
    from tt_forge_models.yolov4.pytorch import ModelLoader as Yolo

    resnet = ResNet("resnet18")
    model = resnet.load_model(dtype_override=torch.bfloat16, weights="random")
    pixels = resnet.load_inputs(dtype_override=torch.bfloat16)
    with torch.no_grad():
        co_out = [model(pixels)]
    assert resnet.post_process(co_out) == resnet.decode_output(co_out)
    assert resnet.output_postprocess(co_out)[0][0]["label"] == resnet.decode_output(co_out, top_k=1)[0][0]["label"]
    images = [sample_image("chelsea.jpg"), sample_image("coffee.jpg").convert("L")]
    both = resnet.post_process(
        framework_model=model, compiled_model=model, inputs=images, dtype_override=torch.bfloat16
    )
    assert len(both) == 2 and all(r["framework"] == r["compiled"] for r in both)
    with pytest.raises(TypeError, match="framework_model"):
        resnet.post_process(framework_model=model, inputs=images)

    yolo = Yolo("yolov4_tiny_320")
    detector = yolo.load_model(weights="random")
    with torch.no_grad():
        raw = list(detector(yolo.input_preprocess()))
    path = yolo.post_processing(raw)
    assert os.path.isfile(path) and Image.open(path).size == sample_image(yolo.sample_image).size
    os.remove(path)
    chosen = yolo.output_postprocess(raw, output_path=str(tmp_path / "boxes.jpg"))
    assert chosen == str(tmp_path / "boxes.jpg") and Image.open(chosen).format == "JPEG"

    for variant in ("base_squad2", "base_uncased"):
        bert = Bert(variant)
        model = bert.load_model(weights="random", num_layers=1)
        tokens = bert.load_inputs()
        with torch.no_grad():
            out = model(tokens["input_ids"], tokens["attention_mask"])
        co_out = list(out.values())  # what a compiled model hands back: a list of tensors
        assert bert.decode_output(co_out) == bert.decode_output(out)
