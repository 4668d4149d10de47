"""Mamba on the causal-LM base: the published config file itself, the reference selective scan and
conv1d (no CUDA kernels, none fetched), a state-space prefill and decode step, greedy generation as
transformers' own, and pretrained weights and a padded-vocabulary tokenizer from a private cache
with every socket refused."""

from __future__ import annotations

import hashlib
import json
import textwrap
import warnings

import pytest
import torch
import torch.nn.functional as F

from tt_forge_models.inputs.text import tokenizer_problem
from tt_forge_models.inputs.tree import cache_tensors
from tt_forge_models.mamba import ModelLoader
from tt_forge_models.mamba.pytorch.loader import KERNEL_FUNCTIONS, kernel_functions_in_use
from tt_forge_models.tasks.causal_lm import PROMPT

from helpers import run_python

pytestmark = pytest.mark.filterwarnings("ignore::tt_forge_models.PreprocessorFallbackWarning")

# config.json of state-spaces/mamba-130m-hf at revision 40e5d2bd: 895 bytes, this sha256 (a
# published provenance manifest pins both); the shipped file is byte for byte that file.
PUBLISHED_CONFIG = (895, "784825b6b6cdde47a1602278db0e66d6764169af4a8e662404701bc636a2686a")


@pytest.fixture(scope="module")
def loader():
    return ModelLoader()


@pytest.fixture(scope="module")
def model(loader):
    return loader.load_model(weights="random", seed=5, num_layers=1)


def test_shipped_config_is_the_published_file(loader):
    data = loader.source.config_file.read_bytes()
    assert (len(data), hashlib.sha256(data).hexdigest()) == PUBLISHED_CONFIG
    assert loader.get_variant_config().weights.revision.startswith("40e5d2bd")
    config = loader.load_config()
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (768, 24, 1536)
    assert (config.state_size, config.conv_kernel, config.time_step_rank, config.vocab_size) == (16, 4, 48, 50280)
    assert config.layer_types == ["linear_attention"] * 24 and config.tie_word_embeddings
    assert loader.load_config(num_layers=3).num_hidden_layers == 3
    assert loader.get_mesh_config(8) == (None, ())  # no attention, and in_proj is fused: no layout
    assert loader.load_shard_spec(loader.load_model(device="meta")) is None


def test_the_1_4b_config_is_the_130m_file_at_its_published_dimensions():
    """mamba-1.4b-hf's config.json at 6e46eae6 (the hub lists it at 879 bytes; no published sha256
    was found) is the 130m file with the 1.4b's dimensions and without ``d_inner``, which a
    from_pretrained copy of the 1.4b saved by transformers 4.39 also lacks: 879 bytes."""
    small = ModelLoader("mamba_130m").source.config_file.read_bytes().decode()
    loader = ModelLoader("mamba_1_4b")
    data = loader.source.config_file.read_bytes()
    assert len(data) == 879 and loader.get_variant_config().weights.revision.startswith("6e46eae6")
    published, ours = json.loads(small), json.loads(data)
    assert set(published) - set(ours) == {"d_inner"} and set(ours) <= set(published)
    dimensions = {"d_model": 2048, "hidden_size": 2048, "intermediate_size": 4096, "n_layer": 48}
    dimensions |= {"num_hidden_layers": 48, "time_step_rank": 128}
    assert {k: v for k, v in ours.items() if published[k] != v} == dimensions
    assert list(ours) == [k for k in published if k != "d_inner"], "the published key order"
    config = loader.load_config()
    assert (config.hidden_size, config.num_hidden_layers, config.intermediate_size) == (2048, 48, 4096)
    assert (config.state_size, config.time_step_rank, config.vocab_size) == (16, 128, 50280)
    assert config.tie_word_embeddings
    step = loader.load_inputs(mode="decode", batch_size=1, num_layers=1)
    assert [tuple(t.shape) for t in cache_tensors(step["cache"])] == [(1, 4096, 4), (1, 4096, 16)]


def _reference_mixer(mixer, hidden):
    """Mamba's mixer written out from the paper's recurrence: in_proj to (x, z), causal depthwise
    conv1d and SiLU on x, x_proj to (dt, B, C), softplus(dt_proj(dt)), then per step
    h = exp(A dt) h + dt B x and y = C h + D x, gated by SiLU(z), then out_proj."""
    length, inner = hidden.shape[1], mixer.intermediate_size
    x, z = mixer.in_proj(hidden).split(inner, dim=-1)  # (batch, length, inner) each
    weight = mixer.conv1d.weight  # (inner, 1, kernel)
    x = F.conv1d(F.pad(x.transpose(1, 2), (weight.shape[-1] - 1, 0)), weight, mixer.conv1d.bias, groups=inner)
    x = F.silu(x).transpose(1, 2)
    dt, b, c = mixer.x_proj(x).split([mixer.time_step_rank, mixer.ssm_state_size, mixer.ssm_state_size], dim=-1)
    dt = F.softplus(mixer.dt_proj(dt))  # (batch, length, inner)
    a = -torch.exp(mixer.A_log)  # (inner, state)
    h = torch.zeros(hidden.shape[0], inner, mixer.ssm_state_size)
    ys = []
    for t in range(length):
        h = torch.exp(a * dt[:, t, :, None]) * h + dt[:, t, :, None] * b[:, t, None, :] * x[:, t, :, None]
        ys.append((h * c[:, t, None, :]).sum(-1) + mixer.D * x[:, t])
    y = torch.stack(ys, dim=1) * F.silu(z)
    return mixer.out_proj(y)


def test_the_selective_scan_is_the_reference_pytorch_path(model):
    assert kernel_functions_in_use() == []
    from transformers.models.mamba import modeling_mamba

    for name in KERNEL_FUNCTIONS:  # transformers kept its own code for every kernel function
        function = getattr(modeling_mamba, name)
        assert getattr(function, "__wrapped__", None) is not None, name
    mixer = model.backbone.layers[0].mixer
    hidden = torch.randn(2, 9, 768, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(mixer(hidden), _reference_mixer(mixer, hidden), atol=2e-5, rtol=1e-4)
    assert model.use_kernels is False  # no hub kernels were asked for


def test_a_kernel_package_in_place_of_the_reference_path_is_refused():
    """transformers binds mamba_ssm/causal_conv1d when it imports Mamba (here a stand-in package):
    the loader names the functions they replaced and builds nothing."""
    out = run_python(
        """
        import json, sys, types
        fake = types.ModuleType("causal_conv1d")
        for name in ("causal_conv1d_fn", "causal_conv1d_update"):  # functions of that module
            exec(f"def {name}(*args, **kwargs): pass", fake.__dict__)
        sys.modules["causal_conv1d"] = fake
        from tt_forge_models.mamba import ModelLoader
        from tt_forge_models.mamba.pytorch.loader import kernel_functions_in_use
        try:
            ModelLoader().load_model(weights="random", num_layers=1)
            error = None
        except RuntimeError as err:
            error = str(err)
        print("RESULT " + json.dumps({"used": kernel_functions_in_use(), "error": error}))
        """
    ).stdout
    report = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT ")).removeprefix("RESULT "))
    assert report["used"] == ["causal_conv1d_fn (causal_conv1d)", "causal_conv1d_update (causal_conv1d)"]
    assert report["error"] and "causal_conv1d_fn" in report["error"] and "reference PyTorch path" in report["error"]


def test_prefill_has_no_positions_and_the_padding_is_masked(loader, model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = loader.load_inputs(batch_size=2, seq_len=64)
    assert set(inputs) == {"input_ids", "attention_mask", "use_cache"}, "Mamba has no positions"
    mask = inputs["attention_mask"][0].bool()
    assert not mask[0] and mask[-1], "left-padded"
    with torch.no_grad():
        padded = model(**inputs).logits[0, -1]
        bare = model(input_ids=inputs["input_ids"][:1, mask]).logits[0, -1]
    torch.testing.assert_close(padded, bare, atol=1e-4, rtol=1e-4)


def test_decode_step_holds_the_states_and_continues_the_prefill(loader, model):
    step = loader.load_inputs(mode="decode", batch_size=2, num_layers=1)
    assert set(step) == {"input_ids", "cache"} and step["input_ids"].shape == (2, 1)
    assert [tuple(t.shape) for t in cache_tensors(step["cache"])] == [(2, 1536, 4), (2, 1536, 16)]
    again = loader.load_inputs_decode(batch_size=2, num_layers=1)
    assert all(torch.equal(a, b) for a, b in zip(cache_tensors(step["cache"]), cache_tensors(again["cache"])))
    bf16 = loader.load_inputs(mode="decode", batch_size=2, num_layers=1, dtype_override=torch.bfloat16)
    assert {t.dtype for t in cache_tensors(bf16["cache"])} == {torch.bfloat16}
    before = [t.clone() for t in cache_tensors(step["cache"])]
    with torch.no_grad():
        assert model(**step).logits.shape == (2, 1, 50280)
    assert not any(torch.equal(a, b) for a, b in zip(before, cache_tensors(step["cache"]))), "updated in place"

    # From the model's own prefill: the step's logits are those of the whole sequence's last token.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        step = loader.load_decode_inputs(model, batch_size=1, seq_len=48)
        prefill = loader.load_inputs(batch_size=1, seq_len=48)
    ids = torch.cat([prefill["input_ids"][:, prefill["attention_mask"][0].bool()], step["input_ids"]], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(**step).logits[0, -1], model(input_ids=ids).logits[0, -1], atol=1e-4, rtol=0)


def test_greedy_generation_matches_transformers(loader, model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs = loader.load_inputs(batch_size=2, seq_len=64)
    generated = loader.decode_output(None, model=model, inputs=inputs, max_new_tokens=5)
    reference = model.generate(
        input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], max_new_tokens=5, do_sample=False
    )[:, 64:]
    assert generated == [[t for t in row if t != 0] for row in reference.tolist()]  # cut at EOS (0)
    assert len(generated[0]) == 5


class _Sized:
    def __init__(self, size: int) -> None:
        self.size, self.bos_token_id, self.unk_token_id = size, 0, None

    def __len__(self) -> int:
        return self.size


def test_a_padded_vocabulary_trusts_a_tokenizer_that_rounds_up_to_it():
    ok = tokenizer_problem(_Sized(50277), vocab_size=50280, special_tokens=("bos_token",), pad_multiple=8)
    assert ok is None
    strict = tokenizer_problem(_Sized(50277), vocab_size=50280, special_tokens=("bos_token",))
    assert strict == "it has 50277 tokens but the model has a vocabulary of 50280"
    short = tokenizer_problem(_Sized(50270), vocab_size=50280, special_tokens=("bos_token",), pad_multiple=8)
    assert short == "it has 50270 tokens (padded to a multiple of 8: 50272) but the model has a vocabulary of 50280"


def _tokenizer(size: int):
    """A word-level tokenizer with GPT-NeoX's ``<|endoftext|>`` at id 0 and ``size`` tokens, holding
    the prompt's words (stands in for the real one, which the suite cannot download)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<|endoftext|>": 0}
    for word in sorted(set(PROMPT.replace(".", " . ").replace(",", " , ").split())):
        vocab.setdefault(word, len(vocab))
    vocab.update({f"filler{i}": i for i in range(len(vocab), size)})
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>")


def test_pretrained_from_a_private_cache_with_every_socket_refused(tmp_path, loader, model):
    """The pinned revision in a Hugging Face cache (a one-layer checkpoint and a 50,277-token
    tokenizer) loads as "pretrained" with the tensors saved; no socket is opened and no kernel
    package is imported on the way (load, inputs, forward, decode step, generation)."""
    row = loader.get_variant_config()
    snapshot = tmp_path / "hub" / "models--state-spaces--mamba-130m-hf" / "snapshots" / row.weights.revision
    model.save_pretrained(snapshot)
    _tokenizer(50277).save_pretrained(snapshot)
    from safetensors.torch import save_file

    expected = tmp_path / "expected.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}, expected)
    code = textwrap.dedent(
        f"""
        import json, socket, sys, warnings
        attempts = []
        def refuse(self, address, *args):
            attempts.append(str(address))
            raise ConnectionRefusedError("sockets are refused in this test")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        import torch
        from safetensors.torch import load_file
        from tt_forge_models.mamba import ModelLoader

        loader = ModelLoader()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = loader.load_model(weights="pretrained", num_layers=1)
            inputs = loader.load_inputs(batch_size=1, seq_len=64)
            with torch.no_grad():
                outputs = model(**inputs)
                step = model(**loader.load_inputs(mode="decode", num_layers=1))
            text = loader.decode_output(outputs, model=model, inputs=inputs, max_new_tokens=3)
        state = model.state_dict()
        saved = load_file({str(expected)!r})
        kernels = sorted(m for m in ("mamba_ssm", "causal_conv1d", "kernels", "mambapy") if sys.modules.get(m))
        print("RESULT " + json.dumps({{
            "source": loader.weights_source,
            "exact": sorted(saved) == sorted(k for k in state if k in saved)
                     and all(torch.equal(state[k], v) for k, v in saved.items()),
            "tied": model.lm_head.weight is model.backbone.embeddings.weight,
            "fallbacks": [w.category.__name__ for w in caught if "Fallback" in w.category.__name__],
            "real_tokens": inputs["input_ids"][0, -5:].tolist(),
            "text": text, "step": list(step.logits.shape),
            "attempts": attempts, "kernels": kernels, "use_kernels": model.use_kernels,
        }}))
        """
    )
    hub = {"HF_HOME": str(tmp_path), "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    out = run_python(code, env={**hub, "TT_FORGE_MODELS_OFFLINE": "1"}).stdout
    report = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT ")).removeprefix("RESULT "))
    assert report["source"] == "pretrained" and report["exact"] and report["tied"]
    assert report["fallbacks"] == [], "the cache's tokenizer (50,277 tokens, padded to 50,280) is trusted"
    expected_ids = _tokenizer(50277)(PROMPT)["input_ids"]
    assert report["real_tokens"] == expected_ids[-5:]
    assert isinstance(report["text"][0], str) and report["step"] == [1, 1, 50280]
    assert report["attempts"] == [] and report["kernels"] == [] and report["use_kernels"] is False
