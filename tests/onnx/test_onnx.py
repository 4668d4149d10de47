"""The ONNX loaders: every variant of resnet, bert, yolov3, yolov4 and the vision families as an
ONNX graph exported from its own PyTorch model, checked on the reduced instance the suite runs.

Per architecture (``distinct_architectures``): the export passes ``onnx.checker`` at the pinned
opset, its batch axis is dynamic (onnxruntime runs batch 1 and 2), and onnxruntime's outputs match
the PyTorch model's in fp32 (PCC >= 0.9999, output by output, named and ordered as the PyTorch
output flattens) and the family's stored PyTorch golden. Exports cost seconds each, so the default
suite exports the smallest architecture of each family; the others (the same code at another size
or with another head: ResNet-152 beside ResNet-18, BERT's QA head beside its embeddings) run under
``-m large``. Every variant's loader, table and inputs are checked without exporting.

The cache, the refusal of a declared variant and every typed error are checked on ResNet-18, whose
export takes about two seconds; tests that exercise the cache's bookkeeping rather than the
exporter stand a stored export in for the exporter.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import shutil
import time
import warnings

import numpy as np
import onnx
import pytest
import torch

from tt_forge_models.discovery import get_loader
from tt_forge_models.errors import (
    CacheRebuildWarning,
    MissingDependencyError,
    OnnxExportError,
    WeightsFallbackWarning,
    WeightsUnavailableError,
)
from tt_forge_models.frameworks import onnx_cache, onnx_loader
from tt_forge_models.frameworks.onnx_loader import (
    BATCH_DIM,
    OPSET,
    TENSOR_INPUT,
    OnnxLoader,
    graph_inputs,
    metadata,
    output_paths,
    run_onnxruntime,
)
from tt_forge_models.testing import (
    all_variants,
    assert_pcc,
    distinct_architectures,
    flatten_outputs,
    golden,
    parity,
    reduced_input_kwargs,
    reduced_kwargs,
)
from tt_forge_models.testing.schema import row_problems

from helpers import run_python

FAMILIES = (
    "resnet",
    "bert",
    "yolov3",
    "yolov4",
    "mobilenetv2",
    "efficientnet",
    "convnext",
    "swin",
    "vit",
    "clip",
    "detr",
    "sam",
    "stable_diffusion",
)

VARIANTS = all_variants(framework="onnx")

pytestmark = pytest.mark.filterwarnings(
    "ignore::tt_forge_models.WeightsFallbackWarning",
    "ignore::tt_forge_models.PreprocessorFallbackWarning",
)


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path_factory):
    """No test writes into the user's cache: the default root is a temporary folder."""
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "default-cache"))


def _test_size(entry):
    return entry.config.test.num_params or entry.config.num_params


def _tiered(params):
    """Each distinct architecture; all but the smallest of each family under ``large`` (an export
    costs seconds to a minute; the others are the family's code at other sizes or heads)."""
    smallest = {}
    for param in params:
        entry = param.values[0]
        if entry.model not in smallest or _test_size(entry) < _test_size(smallest[entry.model]):
            smallest[entry.model] = entry
    out = []
    for param in params:
        entry = param.values[0]
        heavy = smallest[entry.model] is not entry
        out.append(pytest.param(entry, id=param.id, marks=[*param.marks, *([pytest.mark.large] if heavy else [])]))
    return out


ARCHITECTURES = _tiered(distinct_architectures(VARIANTS))


def _torch_outputs(entry, batch_size):
    torch_loader = entry.loader.TORCH_LOADER(entry.variant)
    model = torch_loader.load_model(weights="random", seed=0, dtype_override=torch.float32, **reduced_kwargs(entry))
    inputs = torch_loader.load_inputs(
        dtype_override=torch.float32, batch_size=batch_size, **reduced_input_kwargs(entry)
    )
    with torch.no_grad():
        return flatten_outputs(torch_loader.call_model(model, inputs))


def _elem_type(value_info):
    return onnx.helper.tensor_dtype_to_np_dtype(value_info.type.tensor_type.elem_type)


# ---- every variant, without exporting ------------------------------------------------------------


def test_every_family_has_an_onnx_loader_for_every_pytorch_variant():
    onnx_ids = {p.id.replace("/onnx-", "/pytorch-") for p in VARIANTS}
    torch_ids = {p.id for p in all_variants(model=list(FAMILIES), framework="pytorch", large_params=float("inf"))}
    assert onnx_ids == torch_ids


@pytest.mark.parametrize("entry", VARIANTS)
def test_every_variant_is_its_pytorch_row_with_numpy_inputs(entry):
    loader = entry.make_loader()
    torch_cls = loader.TORCH_LOADER
    assert loader.get_variant_config() is torch_cls._VARIANTS[loader.variant]
    assert loader._loader_dir() == torch_cls._loader_dir()  # the shipped configs are the PyTorch loader's
    assert row_problems(loader.get_variant_config(), loader._loader_dir()) == []
    info = loader.get_model_info()
    assert (info.framework, info.model, info.variant) == ("onnx", entry.model, entry.variant)
    reason = entry.config.test.onnx_unsupported
    assert reason is None or (isinstance(reason, str) and reason.strip()), f"{entry.id}: empty onnx_unsupported"
    arrays = loader.load_inputs(batch_size=2, **reduced_input_kwargs(entry))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch_cls(entry.variant).load_inputs(batch_size=2, **reduced_input_kwargs(entry))
    expected = dict(expected) if isinstance(expected, dict) else {TENSOR_INPUT: expected}
    assert list(arrays) == list(expected)
    for name, array in arrays.items():
        assert isinstance(array, np.ndarray) and np.array_equal(array, expected[name].numpy()), name
        if name not in loader.SHARED_INPUTS:
            assert array.shape[0] == 2, f"{name}: no leading batch"


# ---- per architecture: export, checker, dynamic batch, parity -----------------------------------------


@pytest.mark.parametrize("entry", ARCHITECTURES)
def test_export_runs_in_onnxruntime_like_pytorch(entry, tmp_path):
    loader = entry.make_loader()
    build = {**reduced_kwargs(entry), **reduced_input_kwargs(entry)}
    reason = entry.config.test.onnx_unsupported
    if reason is not None:
        with pytest.raises(OnnxExportError, match=re.escape(reason)):
            loader.load_model(weights="random", cache_dir=tmp_path, **build)
        # The declaration must stay true: if the export starts working, remove it from the table.
        with pytest.raises(Exception):
            loader.load_model(weights="random", cache=False, force=True, **build)
        return
    model = loader.load_model(weights="random", seed=0, dtype_override=torch.float32, cache_dir=tmp_path, **build)
    assert isinstance(model, onnx.ModelProto) and loader.export_status == "exported"
    onnx.checker.check_model(model)
    assert {o.domain: o.version for o in model.opset_import}[""] == OPSET
    assert metadata(model) | {"output_paths": None} == {
        "model": entry.model,
        "variant": entry.variant,
        "weights": "random",
        "seed": "0",
        "output_paths": None,
    }
    for value in model.graph.input:
        if value.name not in loader.SHARED_INPUTS:
            assert value.type.tensor_type.shape.dim[0].dim_param == BATCH_DIM, f"{value.name}: batch is not dynamic"
    for batch_size in (1, 2):
        arrays = loader.load_inputs(batch_size=batch_size)
        assert list(arrays) == graph_inputs(model)
        for value in model.graph.input:
            assert arrays[value.name].dtype == _elem_type(value), value.name
        outputs = [torch.from_numpy(o) for o in run_onnxruntime(model, arrays)]
        if batch_size == 1:  # against the family's stored PyTorch golden
            stored = golden.load(parity.pytorch_entry(entry))
            assert stored is not None, f"no PyTorch golden for {entry.id}"
            problems = golden.diff(stored, golden.fingerprint(dict(zip(output_paths(model), outputs))))
            assert not problems, f"{entry.id}: onnxruntime moved against the PyTorch golden:\n" + "\n".join(problems)
        else:  # against the PyTorch model, tensor by tensor
            expected = _torch_outputs(entry, batch_size)
            assert output_paths(model) == [path for path, _ in expected], "not the PyTorch output's paths, in order"
            assert_pcc([t for _, t in expected], outputs, pcc=0.9999)


# ---- the cache, on ResNet-18 ----------------------------------------------------------------------


def _resnet18():
    return get_loader("resnet", "onnx")("resnet18")


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """One real export of ResNet-18 (random, seed 0) into a cache: (cache root, graph, seconds)."""
    root = tmp_path_factory.mktemp("onnx-cache")
    loader = _resnet18()
    start = time.perf_counter()
    model = loader.load_model(weights="random", cache_dir=root)
    seconds = time.perf_counter() - start
    assert loader.export_status == "exported" and loader.onnx_path.is_file()
    return root, model, seconds


@pytest.fixture
def cache(stored, tmp_path):
    """A private copy of the stored cache, for a test to corrupt."""
    root = tmp_path / "cache"
    shutil.copytree(stored[0], root)
    return root


@pytest.fixture
def exporter(monkeypatch, stored):
    """The exporter replaced by the stored graph: counts the exports the cache asks for."""
    calls = []

    def export(model, inputs, **kwargs):
        calls.append(kwargs)
        copy = onnx.ModelProto()
        copy.CopyFrom(stored[1])
        return copy

    monkeypatch.setattr(onnx_loader, "export_onnx", export)
    return calls


def _entry_folder(root):
    (folder,) = [p.parent for p in root.glob("onnx/resnet/resnet18/*/record.json")]
    return folder


def test_a_second_load_reuses_the_cache_without_building_or_exporting(stored, monkeypatch, tmp_path):
    root, model, cold = stored
    monkeypatch.setattr(onnx_loader, "export_onnx", _fail)
    loader = _resnet18()
    monkeypatch.setattr(loader.torch_loader, "load_model", _fail)
    start = time.perf_counter()
    again = loader.load_model(weights="random", cache_dir=root)
    warm = time.perf_counter() - start
    assert loader.export_status == "loaded from cache" and loader.weights_source == "random"
    assert again.SerializeToString() == model.SerializeToString()
    assert warm < cold / 3, f"a cached load took {warm:.2f} s, the export {cold:.2f} s"
    # upstream's positional folder gets the file too
    placed = loader.load_model(str(tmp_path / "out"), weights="random", cache_dir=root)
    assert loader.onnx_path == tmp_path / "out" / "resnet-resnet18.onnx"
    assert onnx.load(str(loader.onnx_path)).SerializeToString() == placed.SerializeToString()


def _fail(*args, **kwargs):
    raise AssertionError("a cached load must not build or export")


def _truncate(folder):
    graph = next(folder.glob("*.onnx"))
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])


def _garbage(folder):
    next(folder.glob("*.onnx")).write_bytes(b"not a graph" * 100)


def _garbage_record(folder):
    (folder / "record.json").write_text("{truncated")


def _other_key(folder):
    record = json.loads((folder / "record.json").read_text())
    record["key"]["seed"] = 1
    (folder / "record.json").write_text(json.dumps(record))


def _fails_the_checker(folder):
    """A graph that parses but is invalid, with a record that vouches for its bytes: only the
    checker can tell."""
    graph = next(folder.glob("*.onnx"))
    model = onnx.load(str(graph))
    model.graph.node[0].op_type = "NoSuchOperator"
    onnx.save_model(model, str(graph))
    record = json.loads((folder / "record.json").read_text())
    record["files"][graph.name] = onnx_cache.file_sha256(graph)
    (folder / "record.json").write_text(json.dumps(record))


@pytest.mark.parametrize(
    "corrupt, why",
    [
        (_truncate, "recorded sha256"),
        (_garbage, "recorded sha256"),
        (_garbage_record, "cannot be read"),
        (_other_key, "another export"),
        (_fails_the_checker, "valid ONNX model"),
    ],
    ids=["truncated", "garbage", "garbage-record", "record-mismatch", "checker-fails"],
)
def test_a_corrupt_entry_is_rebuilt_with_a_warning(cache, exporter, corrupt, why):
    corrupt(_entry_folder(cache))
    loader = _resnet18()
    with pytest.warns(CacheRebuildWarning, match=why):
        model = loader.load_model(weights="random", cache_dir=cache)
    assert loader.export_status == "exported" and len(exporter) == 1
    onnx.checker.check_model(model)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheRebuildWarning)
        _resnet18().load_model(weights="random", cache_dir=cache)  # the rebuilt entry is trusted
    assert len(exporter) == 1


@pytest.mark.parametrize(
    "change",
    [{"seed": 1}, {"opset": 20}, {"dtype_override": torch.float16}, {"image": "coffee.jpg"}],
    ids=["seed", "opset", "dtype", "same-shapes"],
)
def test_the_key_separates_what_decides_the_graph(cache, exporter, change):
    _resnet18().load_model(weights="random", cache_dir=cache, **change)
    # another photograph has the same shapes: the same graph, so the same entry
    assert len(exporter) == (0 if "image" in change else 1)


def test_another_code_version_is_another_entry(cache, exporter, monkeypatch):
    monkeypatch.setattr(onnx_cache, "code_version", lambda model: "0" * 64)
    _resnet18().load_model(weights="random", cache_dir=cache)
    assert len(exporter) == 1


def test_the_code_version_covers_the_family_and_the_shared_code_only(monkeypatch, tmp_path):
    files = ["a/pytorch/loader.py", "a/pytorch/configs/c.json", "b/pytorch/loader.py", "tasks/t.py", "tests/x.py"]
    files += ["goldens/a/g.json", ".venv/lib/m.py", "README.md"]
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("0")
    monkeypatch.setattr(onnx_cache, "_ROOT", tmp_path)
    before = onnx_cache.code_version("a")
    assert before == onnx_cache.code_version("a") != onnx_cache.code_version("b")
    for name in files:
        (tmp_path / name).write_text("1")
        changed = onnx_cache.code_version("a") != before
        assert changed == (name in files[:2] + ["tasks/t.py"]), name
        (tmp_path / name).write_text("0")


def test_the_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(onnx_cache.CACHE_ENV, str(tmp_path / "ours"))
    assert onnx_cache.cache_root() == tmp_path / "ours"
    monkeypatch.setenv(onnx_cache.CACHE_ENV, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_cache.cache_root() == tmp_path / "xdg" / "tt_forge_models"


def test_auto_offline_reuses_the_random_export_and_says_so(stored, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no torchvision checkpoint here
    monkeypatch.setattr(onnx_loader, "export_onnx", _fail)
    loader = _resnet18()
    with pytest.warns(WeightsFallbackWarning, match="cached export of random weights"):
        loader.load_model(weights="auto", cache_dir=stored[0])
    assert loader.export_status == "loaded from cache" and loader.weights_source == "random"


def test_a_random_export_never_stands_in_for_pretrained(stored, monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailableError):
        _resnet18().load_model(weights="pretrained", cache_dir=stored[0])


def test_a_failed_export_names_the_variant_and_leaves_no_entry(monkeypatch, tmp_path):
    def broken(*args, **kwargs):
        raise OnnxExportError("the exporter gave up")

    monkeypatch.setattr(onnx_loader, "export_onnx", broken)
    with pytest.raises(OnnxExportError, match="^resnet/onnx-resnet18: the exporter gave up.*onnx_unsupported"):
        _resnet18().load_model(weights="random", cache_dir=tmp_path)
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]


def test_pretrained_weights_export_with_their_provenance_and_match_pytorch(tmp_path, monkeypatch):
    """The MiniLM mirror (an installed package) gives real weights offline: the export records
    them, is cached apart from random ones, and its sentence embeddings are PyTorch's."""
    loader = get_loader("bert", "onnx")("all_minilm_l6_v2")
    model = loader.load_model(weights="pretrained", num_layers=2, cache_dir=tmp_path)
    assert (
        loader.weights_source.startswith("pretrained (mirror: ") and metadata(model)["weights"] == loader.weights_source
    )
    record = json.loads((loader.onnx_path.parent / "record.json").read_text())
    assert record["key"]["weights"].startswith("pretrained ") and record["key"]["seed"] is None
    torch_loader = loader.torch_loader
    torch_model = torch_loader.load_model(weights="pretrained", num_layers=2)
    with torch.no_grad():
        expected = flatten_outputs(torch_model(**torch_loader.load_inputs(batch_size=2)))
    outputs = run_onnxruntime(model, loader.load_inputs(batch_size=2))
    assert_pcc([t for _, t in expected], [torch.from_numpy(o) for o in outputs], pcc=0.9999)
    calls = []
    monkeypatch.setattr(onnx_loader, "export_onnx", lambda *args, **kwargs: calls.append(1) or model)
    random = get_loader("bert", "onnx")("all_minilm_l6_v2")
    random.load_model(weights="random", num_layers=2, cache_dir=tmp_path)
    assert calls == [1] and random.onnx_path.parent != loader.onnx_path.parent  # not served the pretrained entry


def test_entries_are_written_by_the_one_atomic_writer(exporter, monkeypatch, tmp_path):
    folders = []
    real = onnx_cache.atomic_write_folder
    monkeypatch.setattr(onnx_cache, "atomic_write_folder", lambda out, write: folders.append(out) or real(out, write))
    loader = _resnet18()
    loader.load_model(weights="random", cache_dir=tmp_path)
    assert folders == [loader.onnx_path.parent]


def test_a_large_graph_keeps_its_tensors_beside_it(exporter, monkeypatch, tmp_path, stored):
    monkeypatch.setattr(onnx_cache, "EXTERNAL_DATA_BYTES", 0)
    loader = _resnet18()
    loader.load_model(weights="random", cache_dir=tmp_path / "cache")
    folder = loader.onnx_path.parent
    assert sorted(p.name for p in folder.iterdir()) == [
        "record.json",
        "resnet-resnet18.onnx",
        "resnet-resnet18.onnx.data",
    ]
    again = _resnet18()
    again.load_model(tmp_path / "out", weights="random", cache_dir=tmp_path / "cache")
    assert again.export_status == "loaded from cache"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["resnet-resnet18.onnx", "resnet-resnet18.onnx.data"]
    arrays = again.load_inputs()
    ours = run_onnxruntime(again.onnx_path, arrays)
    np.testing.assert_array_equal(ours[0], run_onnxruntime(stored[1], arrays)[0])


def test_decode_output_reads_onnxruntime_outputs_as_the_pytorch_loader_does(stored):
    loader = _resnet18()
    model = loader.load_model(weights="random", cache_dir=stored[0])
    outputs = run_onnxruntime(model, loader.load_inputs())
    torch_loader = loader.torch_loader
    torch_model = torch_loader.load_model(weights="random")
    with torch.no_grad():
        expected = torch_loader.decode_output(torch_model(torch_loader.load_inputs()), top_k=3)
    decoded = loader.decode_output(outputs, top_k=3)
    assert [[c["label"] for c in image] for image in decoded] == [[c["label"] for c in image] for image in expected]


def test_load_inputs_in_bfloat16_keeps_integers(stored):
    arrays = get_loader("bert", "onnx")("base_sst2").load_inputs(dtype_override=torch.bfloat16)
    assert {a.dtype.name for a in arrays.values()} == {"int64"}
    image = _resnet18().load_inputs(dtype_override=torch.bfloat16)[TENSOR_INPUT]
    assert image.dtype.name == "bfloat16"


# ---- refusals and typed errors -------------------------------------------------------------------------


def test_a_declared_variant_is_refused_with_its_reason(exporter, tmp_path):
    from tt_forge_models.resnet.pytorch.loader import ModelLoader as ResNet
    from tt_forge_models.resnet.pytorch.loader import ModelVariant

    row = ResNet._VARIANTS[ModelVariant.RESNET_18]
    declared = dataclasses.replace(row, test=dataclasses.replace(row.test, onnx_unsupported="a stated reason"))

    class Declared(ResNet):
        _VARIANTS = {ModelVariant.RESNET_18: declared}
        DEFAULT_VARIANT = ModelVariant.RESNET_18

    class DeclaredOnnx(OnnxLoader):
        TORCH_LOADER = Declared

    with pytest.raises(OnnxExportError, match="cannot be exported to ONNX: a stated reason"):
        DeclaredOnnx().load_model(weights="random", cache_dir=tmp_path)
    assert exporter == []
    DeclaredOnnx().load_model(weights="random", cache_dir=tmp_path, force=True)  # force tries anyway
    assert len(exporter) == 1


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"opset": 17}, ValueError, "opset must be >= 18"),
        ({"opset": 99}, ValueError, "opset must be >= 18 and <= "),
        ({"opset": "18"}, TypeError, "opset must be an integer"),
        ({"opset": True}, TypeError, "opset must be an integer"),
        ({"weights": "bogus"}, ValueError, "unknown weights 'bogus'"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"dtype_override": torch.int8}, ValueError, "unsupported dtype"),
        ({"device": "cpu"}, TypeError, "not an ONNX export option"),
        ({"dropout": 0.0}, TypeError, "not an ONNX export option"),
        ({"cache": "yes"}, TypeError, "cache and force must be bools"),
        ({"cache_dir": 3}, TypeError, "cache_dir must be a folder path"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_bad_load_model_arguments_are_typed_errors_before_any_build(kwargs, error, match, monkeypatch):
    loader = _resnet18()
    monkeypatch.setattr(loader.torch_loader, "load_model", _fail)
    with pytest.raises(error, match=match):
        loader.load_model(**kwargs)


def test_bad_load_inputs_and_run_arguments_are_typed_errors(stored, tmp_path):
    loader = _resnet18()
    with pytest.raises(TypeError, match="onnx_tmp_path must be a folder path"):
        loader.load_model(3)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="is not a folder"):
        loader.load_model(tmp_path / "file")
    with pytest.raises(ValueError, match="batch_size must be >= 1, got 0"):
        loader.load_inputs(batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        loader.load_inputs(batch_size=True)
    with pytest.raises(TypeError, match="unknown keywords \\['size'\\]"):
        loader.load_inputs(size=3)
    arrays = loader.load_inputs()
    with pytest.raises(ValueError, match="missing \\['input'\\], unknown \\['pixels'\\]"):
        run_onnxruntime(stored[1], {"pixels": arrays[TENSOR_INPUT]})
    with pytest.raises(TypeError, match="onnx.ModelProto or a file path"):
        run_onnxruntime(object(), arrays)
    with pytest.raises(TypeError, match="dict of name -> array"):
        run_onnxruntime(stored[1], arrays[TENSOR_INPUT])


def test_an_unknown_variant_is_a_value_error_naming_the_valid_ones():
    with pytest.raises(ValueError, match="resnet18"):
        get_loader("resnet", "onnx")("resnet9000")


def test_a_missing_framework_names_the_extra(monkeypatch):
    monkeypatch.setattr(OnnxLoader, "REQUIRES", ("onnx", "no_such_module_for_onnx_tests"))
    with pytest.raises(MissingDependencyError, match=re.escape("pip install 'tt-forge-models[onnx]'")):
        _resnet18().load_model(weights="random")


def test_the_onnx_loader_modules_import_no_framework():
    proc = run_python(
        f"""
        import importlib, sys
        from tt_forge_models.discovery import list_variants
        for family in {FAMILIES!r}:
            importlib.import_module(f"tt_forge_models.{{family}}.onnx.loader")
        assert len(list_variants(framework="onnx")) == {len(VARIANTS)}
        heavy = [m for m in ("torch", "numpy", "onnx", "onnxruntime", "onnxscript") if m in sys.modules]
        print(heavy)
        """
    )
    assert proc.stdout.strip() == "[]"


def test_upstreams_calls_work_on_the_class(exporter, tmp_path):
    """Upstream's ONNX loaders take the folder first: ``ModelLoader().load_model(onnx_tmp_path)``;
    its README calls ``ModelLoader.load_model()`` on the class (the default variant)."""
    from tt_forge_models.mobilenetv2.onnx import ModelLoader, ModelVariant

    assert list(inspect.signature(ModelLoader.load_model).parameters)[0] == "onnx_tmp_path"
    ModelLoader.load_model(str(tmp_path), weights="random", cache_dir=tmp_path / "cache")
    assert len(exporter) == 1 and (tmp_path / "mobilenetv2-mobilenet_v2.onnx").is_file()
    inputs = ModelLoader.load_inputs(batch_size=2)
    assert list(inputs) == [TENSOR_INPUT] and inputs[TENSOR_INPUT].shape == (2, 3, 224, 224)
    assert ModelVariant.MOBILENET_V2 in ModelLoader.query_available_variants()
