"""The classification-head trainer and predictor on a tiny random Llama: loss math, training, saving, loading.

Everything is local and small (tests/tiny_model.py), a few seconds on 2 CPU cores.
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
from pipeline.tasks.four_class import LABELS, TASK
from tests.helpers import one_torch_thread  # noqa: F401 (autouse fixture)
from tests.tiny_model import make_tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    rows = TASK.demo_rows(24, seed=2, language="mixed")
    return {"train": write_jsonl(root / "train.jsonl", rows[:16]),
            "valid": write_jsonl(root / "valid.jsonl", rows[16:]),
            "texts": [row["text"] for row in rows]}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data) -> Path:
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), data["texts"])


def run_config(tiny_model: Path, data: dict, output_dir: Path, **overrides):
    from pipeline.train.cls_head import ClsHeadRunConfig

    values = dict(model_name=str(tiny_model), train_file=str(data["train"]), valid_file=str(data["valid"]),
                  output_dir=str(output_dir), max_steps=3, batch_size=4, learning_rate=5e-3, warmup_ratio=0.0,
                  lora_r=4, lora_alpha=8, lora_dropout=0.0, logging_steps=1, eval_steps=3, max_seq_length=128)
    values.update(overrides)
    return ClsHeadRunConfig(**values)


def test_focal_loss_is_cross_entropy_at_gamma_zero_and_down_weights_easy_examples():
    import torch
    import torch.nn.functional as F

    from pipeline.train.cls_head import focal_loss

    logits = torch.tensor([[math.log(3.0), 0.0, 0.0, 0.0], [0.0, 2.0, -1.0, 0.5], [1.0, 0.0, 0.0, 3.0]])
    targets = torch.tensor([0, 1, 2])
    weights = torch.tensor([0.5, 1.0, 2.0, 1.0])

    assert focal_loss(logits, targets) == pytest.approx(F.cross_entropy(logits, targets).item())
    assert focal_loss(logits, targets, 0.0, weights) == pytest.approx(
        F.cross_entropy(logits, targets, weight=weights).item())
    # p_t = 3 / (3 + 1 + 1 + 1) = 0.5, so the loss is (1 - 0.5)^2 * ln 2.
    assert focal_loss(logits[:1], targets[:1], gamma=2.0).item() == pytest.approx(0.25 * math.log(2))


def test_class_weights_are_inverse_frequency():
    from pipeline.train.cls_head import inverse_frequency_weights

    assert inverse_frequency_weights([0, 0, 0, 1], len(LABELS)) == [4 / 12, 1.0, 0.0, 0.0]
    assert inverse_frequency_weights([0, 1, 2, 3], len(LABELS)) == [1.0, 1.0, 1.0, 1.0]


def test_it_trains_with_focal_loss_and_class_weights_and_the_predictor_reads_the_adapter(tiny_model, data, tmp_path):
    from safetensors.torch import load_file

    from pipeline.infer.cls_head import HeadPredictor
    from pipeline.train.cls_head import train

    metrics: list[tuple[str, int, float]] = []
    progress: list[tuple[int, int]] = []
    lines: list[str] = []
    config = run_config(tiny_model, data, tmp_path / "run", focal_gamma=2.0, class_weights=True)

    result = train(config, on_progress=lambda done, total: progress.append((done, total)),
                   on_metric=lambda key, step, value: metrics.append((key, step, value)), on_log=lines.append)

    assert result.status == "completed" and (result.steps_done, result.total_steps) == (3, 3)
    assert progress[-1] == (3, 3)
    assert [step for key, step, _ in metrics if key == "train/loss"] == [1, 2, 3]
    assert all(math.isfinite(value) for _, _, value in metrics)
    assert {key for key, _, _ in metrics} >= {"eval/loss", "eval/accuracy", "eval/macro_f1"}
    assert any("focal gamma 2.0, class weights ALLOW=" in line for line in lines)
    adapter = Path(result.adapter_dir)
    saved = load_file(adapter / "adapter_model.safetensors")
    head_keys = [key for key in saved if key.endswith("score.weight")]
    assert len(head_keys) == 1 and saved[head_keys[0]].shape[0] == len(LABELS)
    assert any("lora_A" in key for key in saved)
    head_card = json.loads((adapter / "cls_head.json").read_text())
    assert head_card["labels"] == list(LABELS) and head_card["task"] == "four_class"
    card = json.loads(Path(result.run_card_path).read_text())
    assert card["trainer"] == "cls_head" and card["hyperparameters"]["focal_gamma"] == 2.0
    assert card["hyperparameters"]["class_weights"] is True

    predictor = HeadPredictor(str(tiny_model), result.adapter_dir)
    predictions = predictor.predict(data["texts"][:5])

    assert (predictor.name, predictor.model_id, predictor.adapter) == ("fine_tuned", str(tiny_model),
                                                                       result.adapter_dir)
    assert len(predictions) == 5
    assert all(TASK.parse(p.raw) == p.raw and p.raw in LABELS and p.latency_ms > 0 for p in predictions)
    # The trained head, not a freshly initialised one, answers.
    assert predictor.model.score.weight.detach().cpu().equal(saved[head_keys[0]])


def test_a_cancelled_run_keeps_a_checkpoint_and_the_next_run_resumes(tiny_model, data, tmp_path):
    from pipeline.train.cls_head import train

    done: list[int] = []
    config = run_config(tiny_model, data, tmp_path, max_steps=4, valid_file=None)

    cancelled = train(config, on_progress=lambda step, total: done.append(step), should_stop=lambda: done[-1] >= 2)
    resumed = train(config)

    assert cancelled.status == "cancelled" and cancelled.adapter_dir is None and cancelled.steps_done == 2
    assert resumed.status == "completed" and resumed.resumed_from_step == 2 and resumed.steps_done == 4
    assert (Path(resumed.adapter_dir) / "cls_head.json").is_file()


def test_a_bad_line_is_named(tmp_path):
    from pipeline.train.cls_head import read_labelled_jsonl

    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "fine", "answer": "ALLOW"}\n\n{"text": "hm", "answer": "MAYBE"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3: \"answer\" must be one of"):
        read_labelled_jsonl(path)
    path.write_text('{"text": "fine", "label": "deny"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1:"):
        read_labelled_jsonl(path)
    path.write_text('{"text": "fine", "label": "DENY"}\n')
    assert read_labelled_jsonl(path) == [("fine", LABELS.index("DENY"))]


def test_the_predictor_refuses_an_adapter_without_a_head(tiny_model, tmp_path):
    from pipeline.infer.cls_head import HeadPredictor

    with pytest.raises(ValueError, match="not a head adapter"):
        HeadPredictor(str(tiny_model), str(tmp_path))


def test_the_cli_offers_the_loss_options():
    completed = subprocess.run([sys.executable, "-m", "pipeline.train.cls_head", "--help"], cwd=ROOT,
                               capture_output=True, text=True, check=True)
    for flag in ("--train-file", "--valid-file", "--output-dir", "--focal-gamma", "--class-weights", "--lora-r",
                 "--max-steps", "--resume"):
        assert flag in completed.stdout
    bad = subprocess.run([sys.executable, "-m", "pipeline.train.cls_head", "--train-file", "x", "--output-dir", "y",
                          "--focal-gamma", "-1"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "focal_gamma must be at least 0" in bad.stderr
