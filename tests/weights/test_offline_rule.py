"""The one offline rule (``weights.policy.offline_reason``): each variable it honours, alone, decides;
every caller (sources, tokenizers, the CLI) goes through it. No test here touches the network: the
host probe is replaced where a test needs it to answer."""

from __future__ import annotations

import pytest

from tt_forge_models.weights import policy

HOST = "https://hub.example.invalid"


@pytest.fixture
def nothing_set(monkeypatch):
    """No switch set, and a probe that records its calls and says the host answers."""
    for name in (policy.OFFLINE_ENV, policy.HUB_OFFLINE_ENV, policy.HUB_ENDPOINT_ENV):
        monkeypatch.delenv(name, raising=False)
    probed: list[str] = []

    def answers(host: str) -> bool:
        probed.append(host)
        return True

    monkeypatch.setattr(policy, "network_available", answers)
    return probed


def test_online_when_nothing_says_otherwise(nothing_set):
    assert policy.offline_reason(HOST) is None and policy.offline_reason(HOST, hub=True) is None
    assert nothing_set == [HOST, HOST]
    assert not policy.is_offline(None), "a source with nothing to download needs no probe"
    assert nothing_set == [HOST, HOST]


@pytest.mark.parametrize("hub", [False, True])
@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_our_switch_holds_for_every_source_without_a_probe(nothing_set, monkeypatch, value, hub):
    monkeypatch.setenv(policy.OFFLINE_ENV, value)
    assert policy.offline_reason(HOST, hub=hub) == "TT_FORGE_MODELS_OFFLINE is set"
    assert policy.is_offline(None, hub=hub)
    assert nothing_set == [], "a switch that is on never probes"


def test_hub_switch_holds_for_hub_sources_only(nothing_set, monkeypatch):
    monkeypatch.setenv(policy.HUB_OFFLINE_ENV, "1")
    assert policy.offline_reason(HOST, hub=True) == "HF_HUB_OFFLINE is set"
    assert policy.hub_offline()
    assert policy.offline_reason("download.pytorch.org") is None, "HF_HUB_OFFLINE says nothing of torchvision"


@pytest.mark.parametrize("value", ["0", "false", "no", "off", ""])
def test_off_values_are_off(nothing_set, monkeypatch, value):
    monkeypatch.setenv(policy.OFFLINE_ENV, value)
    monkeypatch.setenv(policy.HUB_OFFLINE_ENV, value)
    assert policy.offline_reason(HOST, hub=True) is None


@pytest.mark.parametrize("name", [policy.OFFLINE_ENV, policy.HUB_OFFLINE_ENV])
def test_a_switch_that_is_no_boolean_is_an_error_naming_it(nothing_set, monkeypatch, name):
    monkeypatch.setenv(name, "offline-please")
    with pytest.raises(ValueError, match=f"{name}='offline-please'.*accepted"):
        policy.offline_reason(HOST, hub=True)


def test_a_host_that_does_not_answer_is_offline(nothing_set, monkeypatch):
    monkeypatch.setattr(policy, "network_available", lambda host: False)
    assert policy.offline_reason("https://download.pytorch.org/models/") == "download.pytorch.org does not answer"
    assert policy.is_offline("https://download.pytorch.org")


def test_the_hub_endpoint_comes_from_hf_endpoint(nothing_set, monkeypatch):
    assert policy.hub_endpoint() == "https://huggingface.co"
    monkeypatch.setenv(policy.HUB_ENDPOINT_ENV, "http://127.0.0.1:9")
    assert not policy.hub_offline() and nothing_set == ["http://127.0.0.1:9"]
    monkeypatch.setenv(policy.HUB_ENDPOINT_ENV, "ftp://mirror")
    with pytest.raises(ValueError, match="HF_ENDPOINT='ftp://mirror'"):
        policy.hub_offline()


def test_every_source_asks_the_one_rule(nothing_set, monkeypatch):
    """Sources and the tokenizer loader reach the rule through ``policy``: turning the host probe
    or a switch off there makes each of them offline."""
    from tt_forge_models.errors import PreprocessorFallbackWarning
    from tt_forge_models.inputs.text import load_tokenizer
    from tt_forge_models.resnet.pytorch import ModelLoader as ResNet
    from tt_forge_models.yolov4.pytorch import ModelLoader as Yolo4

    monkeypatch.setattr(policy, "network_available", lambda host: False)
    for variant in ("resnet_50_hf", "resnet18", "resnet50_timm"):
        source = ResNet(variant).source
        assert source.offline() and source.offline_reason().endswith("does not answer"), variant
    assert ResNet("resnet_50_hf").source.hub and not ResNet("resnet18").source.hub
    assert Yolo4("yolov4_tiny_320").source.offline()
    monkeypatch.setenv(policy.HUB_OFFLINE_ENV, "1")
    assert ResNet("resnet50_timm").source.offline_reason() == "HF_HUB_OFFLINE is set"
    assert ResNet("resnet18").source.offline_reason().endswith("does not answer")
    with pytest.warns(PreprocessorFallbackWarning, match="could be had offline"):
        assert load_tokenizer("no-such/repo", "0" * 40, vocab_size=10) is None


def test_only_the_policy_reads_the_offline_variables():
    """No other module of the package names the switches or reads a boolean variable its own way."""
    from pathlib import Path

    root = Path(policy.__file__).resolve().parent.parent
    offenders = []
    for path in root.rglob("*.py"):
        rel = path.relative_to(root)
        if rel.parts[0] in ("tests", "benchmarks") or rel.parts[0].startswith(".") or path.name == "policy.py":
            continue
        text = path.read_text()
        for needle in ('"HF_HUB_OFFLINE"', '"TT_FORGE_MODELS_OFFLINE"', '"HF_ENDPOINT"', "os.environ"):
            if needle in text and path.name != "validation.py":
                offenders.append(f"{rel}: {needle}")
    assert offenders == []
