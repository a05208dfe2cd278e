"""The regression-head trainer and its predictor on a tiny random Llama: label math, learning, saving, serving.

Everything is local and small (tests/tiny_model.py), seconds on 2 CPU cores.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.data.jsonl import write_jsonl
from pipeline.tasks.hidden_params import AXES, TASK, parse
from tests.helpers import one_torch_thread  # noqa: F401 (autouse fixture)
from tests.tiny_model import make_tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
LOUD = {"energy": 90, "warmth": 20, "brightness": 80, "acousticness": 10, "complexity": 50, "nostalgia": 30}
QUIET = {"energy": 10, "warmth": 80, "brightness": 20, "acousticness": 90, "complexity": 50, "nostalgia": 70}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict:
    """Two kinds of request whose words alone decide the target: a head that reads the request separates them."""
    root = tmp_path_factory.mktemp("data")
    rows = [{"request_text": f"level {index} music, {word}", "target": target}
            for index in range(8) for word, target in (("loud fast", LOUD), ("soft slow", QUIET))]
    return {"train": write_jsonl(root / "train.jsonl", rows[:12]), "valid": write_jsonl(root / "valid.jsonl", rows[12:]),
            "texts": [row["request_text"] for row in rows]}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), data["texts"])


def test_labels_centre_on_the_neutral_vector_and_outputs_become_valid_values():
    from pipeline.train.reg_head import from_outputs, to_labels

    assert to_labels([0, 50, 100, 75]) == [-1.0, 0.0, 1.0, 0.5]
    # Rounded to the nearest integer and clamped to 0-100, whatever the head says.
    assert from_outputs([-3.0, 0.0, 0.013, 0.99, 7.0, -0.5]) == (0, 50, 51, 100, 100, 25)


def test_a_bad_line_is_named(tmp_path):
    from pipeline.train.reg_head import read_regression_jsonl

    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"request_text": "calm", "target": QUIET}) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        read_regression_jsonl(path)
    path.write_text(json.dumps({"request_text": "calm", "target": {**QUIET, "energy": 101}}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: energy must be between 0 and 100"):
        read_regression_jsonl(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="no examples"):
        read_regression_jsonl(path)


def test_it_learns_the_request_and_the_predictor_answers_valid_json_from_the_adapter(tiny_model, data, tmp_path):
    from pipeline.eval.predictors import build_predictor
    from pipeline.infer.cls_head import HeadPredictor, is_head_adapter
    from pipeline.train.reg_head import RegHeadRunConfig, train

    metrics: list[tuple[str, int, float]] = []
    config = RegHeadRunConfig(model_name=str(tiny_model), train_file=str(data["train"]), valid_file=str(data["valid"]),
                              output_dir=str(tmp_path / "run"), max_steps=60, batch_size=4, learning_rate=2e-2,
                              warmup_ratio=0.0, lora_r=4, lora_alpha=8, lora_dropout=0.0, logging_steps=10,
                              eval_steps=30)

    result = train(config, on_metric=lambda key, step, value: metrics.append((key, step, value)))

    assert result.status == "completed" and result.steps_done == 60
    assert all(math.isfinite(value) for _, _, value in metrics)
    maes = [value for key, _, value in metrics if key == "eval/vector_mae"]
    assert len(maes) == 2 and maes[-1] < 15, maes  # the neutral vector is 33 off these targets
    card = json.loads((Path(result.adapter_dir) / "cls_head.json").read_text())
    assert card["kind"] == "regression" and card["labels"] == list(AXES) and card["task"] == "hidden_params"
    assert json.loads(Path(result.run_card_path).read_text())["trainer"] == "reg_head"
    assert is_head_adapter(result.adapter_dir)

    # The eval runner and the playground get the head from the adapter alone; a decode option is moot.
    predictor = build_predictor(TASK, "fine_tuned", model_name=str(tiny_model), adapter=result.adapter_dir,
                                decode="constrained")
    assert isinstance(predictor, HeadPredictor) and predictor.name == "fine_tuned"
    loud, quiet = predictor.predict(["level 99 music, loud fast", "level 99 music, soft slow"])
    loud_values, quiet_values = parse(loud.raw), parse(quiet.raw)
    assert loud_values is not None and quiet_values is not None and loud.latency_ms > 0
    assert loud_values[0] - quiet_values[0] > 40  # energy follows the words, not a constant
    assert quiet_values[3] - loud_values[3] > 40  # and so does acousticness


def test_the_cli_trains_and_refuses_bad_options(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "pipeline.train.reg_head", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    for flag in ("--train-file", "--valid-file", "--output-dir", "--lora-r", "--max-steps", "--resume"):
        assert flag in completed.stdout
    bad = subprocess.run([sys.executable, "-m", "pipeline.train.reg_head", "--train-file", "x", "--output-dir", "y",
                          "--batch-size", "0"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "batch_size must be at least 1" in bad.stderr


def test_bf16_on_a_cpu_that_computes_in_it_is_autocast_over_fp32_weights_and_batches_group_by_length(
        tiny_model, data, tmp_path):
    """--bf16 on a CPU: bf16 where /proc/cpuinfo says AVX512-BF16 or AMX (fp32 master weights), fp32 elsewhere; the
    train sampler groups rows of similar length unless told not to."""
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from pipeline.train.reg_head import RegHeadRunConfig, build_trainer
    from pipeline.train.sft import cpu_supports_bf16, resolve_precision, weight_dtype

    expected = "bf16" if cpu_supports_bf16() else "fp32"
    assert resolve_precision(True, False) == expected and resolve_precision(False, True) == "fp32"
    assert weight_dtype("bf16") == torch.float32  # a CPU keeps fp32 master weights

    config = RegHeadRunConfig(model_name=str(tiny_model), train_file=str(data["train"]),
                              output_dir=str(tmp_path / "run"), max_steps=2, batch_size=4, bf16=True)
    trainer = build_trainer(config)
    assert trainer.args.bf16 == (expected == "bf16") and trainer.args.use_cpu
    assert next(trainer.model.parameters()).dtype == torch.float32
    assert isinstance(trainer._get_train_sampler(), LengthGroupedSampler)
    lengths = [len(trainer.train_dataset[index]["input_ids"]) for index in trainer._get_train_sampler()]
    batches = [lengths[start:start + 4] for start in range(0, len(lengths), 4)]
    assert batches[0] and max(batches[0]) == max(lengths)  # the longest batch first: memory trouble shows at once

    plain = build_trainer(RegHeadRunConfig(model_name=str(tiny_model), train_file=str(data["train"]),
                                           output_dir=str(tmp_path / "plain"), max_steps=2, group_by_length=False))
    assert not isinstance(plain._get_train_sampler(), LengthGroupedSampler) and not plain.args.bf16
