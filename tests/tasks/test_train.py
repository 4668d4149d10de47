"""``tt-forge-models train`` and what it stands on: ``load_model(dropout=)`` and the task losses.

The command runs in-process (``main([...])``) on one small variant of every task, fp32, random
weights, so the whole file stays within a couple of minutes on two cores.
"""

from __future__ import annotations

import json
import re

import pytest
import torch

from tt_forge_models.cli import EXIT_FAILURE, EXIT_USAGE, main
from tt_forge_models.discovery import get_loader
from tt_forge_models.tasks import training

STEP_LINE = re.compile(r"^step (\d+)/(\d+) loss (\S+)$")

# One small variant per task, with the options that keep it quick; ``how`` picks the output form
# each case also checks: the step lines, the progress bar, or the JSON record.
CASES = [
    pytest.param("resnet", "resnet18", ["--batch-size", "2"], "progress", id="cv_image_cls-resnet18"),
    pytest.param("bert", "base_sst2", ["--num-layers", "1"], "lines", id="nlp_text_cls-base_sst2"),
    pytest.param(
        "bert", "large_conll03", ["--num-layers", "1", "--batch-size", "1"], "lines", id="nlp_token_cls-large_conll03"
    ),
    pytest.param("bert", "base_squad2", ["--num-layers", "1", "--batch-size", "1"], "lines", id="nlp_qa-base_squad2"),
    pytest.param(
        "bert", "base_uncased", ["--num-layers", "1", "--batch-size", "1"], "lines", id="nlp_masked_lm-base_uncased"
    ),
    # Three rows: the paraphrase pair (0, 1) and a sentence unrelated to both.
    pytest.param(
        "bert",
        "all_minilm_l6_v2",
        ["--num-layers", "2", "--batch-size", "3"],
        "lines",
        id="nlp_embed_gen-all_minilm_l6_v2",
    ),
    pytest.param(
        "llama",
        "tinyllama_v1_1",
        ["--num-layers", "1", "--batch-size", "1"],
        "lines",
        id="nlp_causal_lm-tinyllama_v1_1",
    ),
    pytest.param("yolov4", "yolov4_tiny_320", ["--batch-size", "1"], "json", id="cv_object_det-yolov4_tiny_320"),
]


def _train(capsys, *args):
    try:
        code = main(["train", *args])
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("model, variant, options, how", CASES)
def test_loss_goes_down_in_five_steps(capsys, model, variant, options, how):
    flags = {"progress": [], "lines": ["--no-progress"], "json": ["--no-progress", "--json"]}[how]
    code, out, err = _train(capsys, model, "--variant", variant, "--steps", "5", "--dtype", "fp32", *options, *flags)
    assert code == 0, err
    task = str(get_loader(model)(variant).get_model_info().task)
    if how == "json":
        record = json.loads(out)
        assert record["task"] == task and record["weights"] == "random" and record["dtype"] == "float32"
        assert record["optimizer"] == "AdamW" and record["dropout"] == 0.0 and record["steps"] == 5
        losses = record["losses"]
        assert record["first_loss"] == losses[0] and record["last_loss"] == losses[-1]
    else:
        lines = out.splitlines()
        assert lines[0].startswith(f"{model}/pytorch-{variant}  ({task}): ")
        steps = [STEP_LINE.match(line) for line in lines if line.startswith("step ")]
        assert all(steps) and [(int(m[1]), int(m[2])) for m in steps] == [(k, 5) for k in range(1, 6)], out
        losses = [float(m[3]) for m in steps]
        assert re.fullmatch(r"loss \S+ -> \S+ over 5 steps \(down\); load .*", lines[-1]), lines[-1]
        assert ("train:" in err) == (how == "progress"), err  # the bar goes to stderr, and only when asked
    assert len(losses) == 5 and all(map(torch.isfinite, torch.tensor(losses)))
    assert losses[-1] < losses[0], f"{model} {variant}: the loss did not go down: {losses}"


def test_non_finite_loss_is_a_one_line_error(capsys):
    code, out, err = _train(capsys, "resnet", "--variant", "resnet18", "--steps", "3", "--lr", "1e30", "--no-progress")
    assert code == EXIT_FAILURE
    assert "step 1/3 loss" in out  # the finite first loss was printed before the failure
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert re.match(r"error: the loss is (nan|inf|-inf) at step [23] of 3 \(lr 1e\+30\)", lines[0]), err


@pytest.mark.parametrize(
    "args, words",
    [
        (["resnet", "--variant", "resnet18", "--steps", "0"], ["--steps", "expected an integer >= 1, got 0"]),
        (["resnet", "--variant", "resnet19"], ["unknown variant 'resnet19'", "resnet18"]),
        (["resnet", "--variant", "resnet18", "--num-layers", "2"], ["takes no --num-layers"]),
        (["bert", "--variant", "base_sst2", "--dropout", "1.5"], ["--dropout", "expected a float in [0, 1]"]),
        (["bert", "--variant", "base_sst2", "--lr", "0"], ["--lr", "expected a finite number > 0"]),
    ],
    ids=["steps-0", "unknown-variant", "num-layers-on-resnet", "dropout-1.5", "lr-0"],
)
def test_bad_command_lines_exit_2_before_loading(capsys, args, words):
    code, out, err = _train(capsys, *args)
    assert code == EXIT_USAGE and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for word in words:
        assert word in lines[0], (word, lines[0])


# ---- load_model(dropout=) ----------------------------------------------------------------------


def _dropout_values(model):
    """Every dropout probability the model holds: Dropout modules, rate attributes, config fields."""
    values = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.modules.dropout._DropoutNd):
            values[f"{name}.p"] = module.p
        for attr in ("attention_dropout", "drop_rate"):
            if isinstance(getattr(module, attr, None), float):
                values[f"{name}.{attr}"] = getattr(module, attr)
    config = getattr(model, "config", None)
    for field, value in config.to_dict().items() if config is not None else ():
        if "dropout" in field and isinstance(value, float):
            values[f"config.{field}"] = value
    return values


@pytest.mark.parametrize(
    "model, variant", [("bert", "base_sst2"), ("llama", "tinyllama_v1_1"), ("resnet", "resnet50_timm")]
)
def test_dropout_sets_every_probability(model, variant):
    loader = get_loader(model)(variant)
    depth = {"num_layers": 1} if model != "resnet" else {}
    values = _dropout_values(loader.load_model(device="meta", dropout=0.25, **depth))
    assert values and set(values.values()) == {0.25}, values
    default = _dropout_values(loader.load_model(device="meta", **depth))
    assert default.keys() == values.keys()
    if model == "bert":  # None keeps the model's own
        assert set(default.values()) == {0.1}


def test_set_dropout_names_what_it_set():
    model = get_loader("bert")("base_sst2").load_model(device="meta", num_layers=1)
    names = training.set_dropout(model, 0.0)
    assert "bert.encoder.layer.0.attention.self.dropout.p" in names
    assert {"config.hidden_dropout_prob", "config.attention_probs_dropout_prob"} <= set(names)
    assert model.config.classifier_dropout is None  # None means "hidden_dropout_prob": left alone


@pytest.mark.parametrize(
    "value, error",
    [(True, TypeError), ("0.1", TypeError), (1.5, ValueError), (-0.1, ValueError), (float("nan"), ValueError)],
)
def test_bad_dropout_is_refused_before_building(value, error):
    with pytest.raises(error, match=r"dropout must be a float in \[0, 1\] or None .*got"):
        get_loader("bert")("base_sst2").load_model(device="meta", dropout=value)


# ---- the masked-LM batch ------------------------------------------------------------------------


def test_masked_lm_masks_fifteen_percent_of_real_tokens_with_a_private_generator():
    loader = get_loader("bert")("base_uncased")
    inputs = loader.load_inputs(batch_size=2)
    state = torch.random.get_rng_state()
    batch, labels = training.prepare_batch(loader, None, inputs, seed=0)
    again, labels_again = training.prepare_batch(loader, None, inputs, seed=0)
    assert torch.equal(torch.random.get_rng_state(), state), "the global RNG was drawn from"
    assert torch.equal(batch["input_ids"], again["input_ids"]) and torch.equal(labels, labels_again)
    mask_id, special = training._mask_ids(loader)
    ids = inputs["input_ids"]
    chosen = labels != -100
    real = inputs["attention_mask"].bool() & ~torch.isin(ids, torch.tensor(sorted(special)))
    assert (chosen <= real).all(), "only real tokens are masked: no special token, no padding"
    for row in range(ids.shape[0]):
        assert chosen[row].sum() == max(1, round(0.15 * real[row].sum().item()))
    assert (batch["input_ids"][chosen] == mask_id).all() and torch.equal(labels[chosen], ids[chosen])
    assert torch.equal(batch["input_ids"][~chosen], ids[~chosen])
    other, _ = training.prepare_batch(loader, None, inputs, seed=1)
    assert not torch.equal(other["input_ids"], batch["input_ids"])
