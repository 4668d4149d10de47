"""The command line, each command run as a user runs it: in a subprocess, on small variants.

Every subprocess that builds a model pays for importing torch (2-3 s), so each one checks as much
as it can. Caches point at empty temporary folders, so results do not depend on this machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from tt_forge_models import CorruptWeightsError
from tt_forge_models.cli.bench import RECORD_FIELDS, BenchOptions, percentile, validate_record
from tt_forge_models.resnet.pytorch import ModelLoader

from helpers import REPO

COMMANDS = ["list", "info", "run", "bench", "prefetch", "export", "train"]
RESNET18_PARAMS = 11_689_512
RESNET18_SHA256 = "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Offline, with empty torch and Hugging Face caches, one torch thread per process."""
    home = tmp_path_factory.mktemp("caches")
    return {
        **os.environ,
        # Two OpenMP threads on a busy 2-core machine (or beside a second pytest worker) make a
        # forward pass many times slower; one thread keeps these subprocesses quick.
        "OMP_NUM_THREADS": "1",
        "TT_FORGE_MODELS_OFFLINE": "1",
        "HF_HUB_OFFLINE": "1",
        "TORCH_HOME": str(home / "torch"),
        "HF_HOME": str(home / "hf"),
    }


def cli(*args: str, env: dict, ok: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "tt_forge_models", *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    if ok:
        assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess, *words: str) -> str:
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def _same_state(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---- no torch: help, list, usage errors -----------------------------------------------------------


def test_help_for_every_command(env):
    assert "COMMAND" in cli("--help", env=env).stdout
    for command in COMMANDS:
        out = cli(command, "--help", env=env).stdout
        assert out.startswith(f"usage: tt-forge-models {command}"), out


def test_list_filters_and_json_import_no_torch(env):
    code = (
        "import sys; from tt_forge_models.cli import main; "
        "rc = main(['list', '--source', 'torchvision', '--name', '*pytorch-resnet1*', '--json']); "
        "assert 'torch' not in sys.modules, 'list imported torch'; sys.exit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)
    assert [r["variant"] for r in rows] == ["resnet18", "resnet101", "resnet152"]
    assert rows[0]["num_params"] == RESNET18_PARAMS and rows[0]["task"] == "cv_image_cls"
    text = cli("list", "--task", "cv_image_cls", "--group", "priority", env=env).stdout
    assert "resnet/pytorch-resnet50 " in text and "resnet18" not in text
    # list shows every framework
    assert "resnet/jax-resnet50 " in text and "resnet/onnx-resnet50 " in text and "3 variants" in text


@pytest.mark.parametrize(
    "argv, words",
    [
        (["info", "resnett"], ["unknown model 'resnett'", "valid:", "resnet"]),
        (["run", "resnet", "--variant", "resnet19"], ["unknown variant 'resnet19'", "resnet18", "resnet50_timm"]),
        (["bench", "resnet", "--variant", "resnet19"], ["unknown variant 'resnet19'", "resnet18"]),
        (["run", "resnet", "--dtype", "fp8"], ["unsupported dtype 'fp8'", "bf16"]),
        (["bench", "--batch-size", "0"], ["batch-size", ">= 1"]),
        (["list", "--task", "cv_image_klassification"], ["unknown task", "cv_image_cls"]),
        (["frobnicate"], ["invalid choice", "export"]),
        (
            ["bench", "resnet", "--variant", "resnet18", "--mode", "compile", "--backend", "nope"],
            ["unknown torch.compile backend 'nope'", "inductor"],
        ),
    ],
    ids=["model", "variant", "bench-variant", "dtype", "batch", "task", "command", "backend"],
)
def test_errors_are_one_line(env, argv, words):
    assert_one_line_error(cli(*argv, env=env, ok=False), *words)


# ---- info, run ---------------------------------------------------------------------------------------


def test_info_reports_params_flops_inputs_and_weights(env):
    info = json.loads(cli("info", "resnet", "--variant", "resnet18", "--json", env=env).stdout)
    assert info["num_params"] == info["num_params_table"] == RESNET18_PARAMS
    # ResNet-18 is 1.82 G multiply-adds; FlopCounterMode counts 2 FLOPs each.
    assert 3.4e9 < info["flops"] < 3.8e9 and info["flops_method"] == "meta" and info["flops_error"] is None
    assert info["inputs"] == [{"name": "x", "shape": [1, 3, 224, 224], "dtype": "float32"}]  # forward(x)
    assert "ResNet18_Weights.IMAGENET1K_V1" in info["weights"] and info["weights_cached"] is False
    assert info["config"]["weights"] == {
        "kind": "torchvision",
        "builder": "resnet18",
        "tag": "IMAGENET1K_V1",
        "sha256": RESNET18_SHA256,
    }
    assert info["config"]["source"] == "torchvision" and info["config"]["pretrained_model_name"] == "resnet18"


def test_run_prints_labels_where_weights_came_from_and_timings(env):
    from tt_forge_models.tasks.labels import imagenet_categories

    proc = cli("run", "resnet", "--variant", "resnet18", "--weights", "random", "--batch-size", "2", env=env)
    out = proc.stdout
    assert "weights: random" in out and "batch size: 2" in out
    samples = [line for line in out.splitlines() if line.lstrip().startswith("[")]
    assert len(samples) == 2 and samples[0].strip().startswith("[0] ")
    assert sum(name in samples[0] for name in imagenet_categories()) >= 5  # the top-5 labels
    assert "time: load" in out and "forward" in out
    assert "Traceback" not in proc.stderr and "warning" not in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cuda_without_a_gpu_is_one_line(env):
    proc = cli("run", "resnet", "--variant", "resnet18", "--device", "cuda", env=env, ok=False)
    assert_one_line_error(proc, "no usable CUDA GPU", "--device cpu")


# ---- bench ---------------------------------------------------------------------------------------------


def test_bench_records_follow_the_schema(env, tmp_path):
    jsonl, png = tmp_path / "out" / "bench.jsonl", tmp_path / "bench.png"
    proc = cli(
        "bench",
        "resnet",
        "--variant",
        "resnet18",
        "--batch-size",
        "1",
        "2",
        "--mode",
        "eager",
        "compile",
        "--backend",
        "eager",
        "--warmup",
        "0",
        "--iters",
        "2",
        "--jsonl",
        str(jsonl),
        "--plot",
        str(png),
        "--no-progress",
        env=env,
    )
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    for record in records:
        validate_record(record)
        assert record["status"] == "ok", record["error"]
        assert record["num_params"] == RESNET18_PARAMS and record["weights"] == "random"
        assert record["iters"] == 2 and record["threads"] >= 1 and record["device"] == "cpu"
        assert record["latency_p50_s"] <= record["latency_p90_s"] <= record["latency_p99_s"]
        assert record["throughput_samples_s"] > 0 and record["achieved_gflop_s"] > 0
        assert record["first_call_s"] > 0 and record["load_s"] > 0 and record["peak_rss_bytes"] > 2**20
        assert 3.4e9 * record["batch_size"] < record["flops"] < 3.8e9 * record["batch_size"]
    cases = [(r["batch_size"], r["mode"], r["backend"]) for r in records]
    assert cases == [(1, "eager", None), (1, "compile", "eager"), (2, "eager", None), (2, "compile", "eager")]
    table = [line for line in proc.stdout.splitlines() if line.startswith("|")]
    assert table[0].startswith("| variant") and "p99 ms" in table[0] and "GFLOP/s" in table[0]
    assert len(table) == 2 + len(records) and "compile (eager)" in proc.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_record_schema_is_documented_and_checked():
    docs = (REPO / "README.md").read_text()
    missing = [name for name in RECORD_FIELDS if f"`{name}`" not in docs]
    assert not missing, f"fields not documented in README.md: {missing}"
    record = dict.fromkeys(RECORD_FIELDS)
    with pytest.raises(ValueError, match="schema"):
        validate_record(record)
    with pytest.raises(ValueError, match="extra"):
        validate_record({**record, "surprise": 1})


def test_harness_helpers():
    values = sorted([5.0, 1.0, 3.0, 2.0, 4.0])
    assert percentile(values, 50) == 3.0 and percentile(values, 0) == 1.0 and percentile(values, 100) == 5.0
    assert percentile(values, 90) == pytest.approx(4.6)
    assert BenchOptions(dtypes=["bf16"]).dtypes == ("bfloat16",)
    with pytest.raises(ValueError, match="mode"):
        BenchOptions(modes=["jit"])
    with pytest.raises(ValueError, match="iters"):
        BenchOptions(iters=0)


def test_flops_fall_back_to_fake_tensors_then_report_why(monkeypatch):
    from tt_forge_models.cli import flops

    loader = ModelLoader("resnet18")
    on_meta = flops.count_flops(loader)

    def refuse(*args, **kwargs):
        raise RuntimeError("no meta here\nsecond line")

    monkeypatch.setattr(flops, "_count_on_meta", refuse)
    assert flops.count_flops(loader).flops == on_meta.flops
    monkeypatch.setattr(flops, "_count_on_fake", refuse)
    failed = flops.count_flops(loader)
    assert failed.flops is None and str(failed).startswith("unavailable: ") and "\n" not in str(failed)


# ---- prefetch, export --------------------------------------------------------------------------------


def test_prefetch_skips_cached_and_fails_clearly_offline(env, tmp_path):
    import torchvision

    torch_home = tmp_path / "torch"
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    (torch_home / "hub" / "checkpoints").mkdir(parents=True)
    (torch_home / "hub" / "checkpoints" / url.rsplit("/", 1)[1]).write_bytes(b"cached")
    proc = cli(
        "prefetch",
        "resnet",
        "--variant",
        "resnet18",
        "--variant",
        "resnet34",
        "--no-progress",
        env={**env, "TORCH_HOME": str(torch_home)},
        ok=False,
    )
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "resnet/pytorch-resnet18: already cached, skipped" in proc.stderr
    assert "resnet/pytorch-resnet34: cannot download" in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: 1 of 2 variants") and "TT_FORGE_MODELS_OFFLINE" in last
    assert "0 fetched, 1 already cached, 1 failed" in proc.stdout


@pytest.mark.parametrize("variant", ["resnet18", "resnet_50_hf"], ids=["torchvision", "huggingface"])
@pytest.mark.filterwarnings("ignore::tt_forge_models.PreprocessorFallbackWarning")
def test_export_then_load_gives_identical_weights(env, tmp_path, variant):
    out = tmp_path / "export"
    proc = cli("export", "resnet", "--variant", variant, "--out", str(out), "--weights", "random", env=env)
    assert "wrote" in proc.stdout and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"], "nothing else is left beside it"
    config = json.loads((out / "config.json").read_text())
    record = config.get("tt_forge_models", config)
    assert (record["variant"], record["dtype"], record["weights"]) == (variant, "float32", "random")

    loader = ModelLoader(variant)
    loaded = loader.load_model(weights=out)
    assert loader.weights_source == f"local:{out}"
    assert _same_state(loaded, ModelLoader(variant).load_model(weights="random"))
    other = "resnet50" if variant == "resnet_50_hf" else "resnet34"
    with pytest.raises(CorruptWeightsError, match=f"holds an export of resnet variant '{variant}'"):
        ModelLoader(other).load_model(weights=out)
    again = cli("export", "resnet", "--variant", variant, "--out", str(out), "--weights", "random", env=env, ok=False)
    assert_one_line_error(again, "already exists", "--force")


# ---- --framework: the same commands on a JAX variant ----------------------------------------------


def test_list_run_info_and_bench_take_a_framework(env, tmp_path):
    rows = json.loads(cli("list", "--framework", "jax", "--json", env=env).stdout)
    assert rows and {r["framework"] for r in rows} == {"jax"} and "resnet/jax-resnet18" in {r["id"] for r in rows}

    common = ("resnet", "--framework", "jax", "--variant", "resnet18")
    run = json.loads(cli("run", *common, "--weights", "random", "--json", env=env).stdout)
    assert run["id"] == "resnet/jax-resnet18" and run["weights"] == "random" and run["dtype"] == "float32"
    assert len(run["output"]) == 1 and len(run["output"][0]) == 5  # top-5 labels of one image
    info = json.loads(cli("info", *common, "--json", env=env).stdout)
    assert info["framework"] == "jax" and info["num_params"] == RESNET18_PARAMS
    assert info["inputs"] == [{"name": "input", "shape": [1, 3, 224, 224], "dtype": "float32"}]
    jsonl = tmp_path / "bench.jsonl"
    cli("bench", "resnet", "--framework", "jax", "--variant", "resnet18", "--mode", "eager", "compile",
        "--iters", "2", "--warmup", "0", "--no-progress", "--jsonl", str(jsonl), env=env)  # fmt: skip
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(r["mode"], r["backend"], r["status"]) for r in records] == [
        ("eager", None, "ok"),
        ("compile", "jax.jit", "ok"),
    ]
    assert all(r["num_params"] == RESNET18_PARAMS for r in records)
    for record in records:
        validate_record(record)
    assert_one_line_error(cli("run", *common, "--device", "cuda", env=env, ok=False), "--device")
    # The ONNX graph of the same seeded weights gives the same labels.
    onnx_env = {**env, "TT_FORGE_MODELS_CACHE": str(tmp_path / "cache")}
    argv = ("run", "resnet", "--framework", "onnx", "--variant", "resnet18", "--weights", "random", "--json")
    onnx_run = json.loads(cli(*argv, env=onnx_env).stdout)
    assert onnx_run["id"] == "resnet/onnx-resnet18" and onnx_run["dtype"] == "float32"
    assert [x["label"] for x in onnx_run["output"][0]] == [x["label"] for x in run["output"][0]]
    assert any((tmp_path / "cache").rglob("*.onnx"))  # the export is cached where the variable says
