"""The Markdown experiment record: every field, real hashes, notes kept; and the run-directory CLI."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path

from pipeline.train.experiment_record import main, write_experiment_record


def make_datasets(tmp_path: Path) -> dict[str, Path]:
    train = tmp_path / "train.jsonl"
    valid = tmp_path / "valid.jsonl"
    train.write_text('{"messages": []}\n' * 3, encoding="utf-8")
    valid.write_text('{"messages": [1]}\n', encoding="utf-8")
    return {"train": train, "valid": valid}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_it_writes_every_field(tmp_path):
    datasets = make_datasets(tmp_path)
    path = write_experiment_record(
        run_id="mc-pattern-d-7",
        created_at=datetime(2026, 11, 3, 9, 30, tzinfo=timezone.utc),
        code_commit="abc1234",
        base_model="smollm2-135m-instruct",
        datasets=datasets,
        hyperparameters={"learning_rate": 0.0002, "train_mode": "auto", "lora_r": 16},
        training_seconds=3723.4,
        eval_commands=["python -m pipeline.eval.run_eval --task multiple_choice --split test"],
        eval_results={"rule_baseline": {"accuracy": 0.25, "invalid_rate": 0.0},
                      "fine_tuned": {"accuracy": 0.8125, "accuracy/cot": 0.9}},
        notes="Pattern D beats C on lore questions.\n\nRetrieval top-1 was right 100% of the time.",
        out=tmp_path / "records" / "EXPERIMENT.md",
    )
    text = path.read_text(encoding="utf-8")
    assert path == tmp_path / "records" / "EXPERIMENT.md"
    assert text.startswith("# Experiment mc-pattern-d-7\n")
    for expected in ("| id | mc-pattern-d-7 |", "| date | 2026-11-03T09:30:00+00:00 |", "| code commit | abc1234 |",
                     "| base model | smollm2-135m-instruct |", "| training time | 1h 02m 03s (3723.4 s) |",
                     "| learning_rate | 0.0002 |", "| train_mode | auto |", "| lora_r | 16 |",
                     "python -m pipeline.eval.run_eval --task multiple_choice --split test",
                     "| metric | rule_baseline | fine_tuned |", "| accuracy | 0.25 | 0.8125 |",
                     "| accuracy/cot | – | 0.9 |", "## Notes"):
        assert expected in text, expected
    for name, dataset in datasets.items():
        assert f"| {name} | {dataset} | {sha256(dataset)} |" in text
    assert text.rstrip().endswith("Pattern D beats C on lore questions.\n\nRetrieval top-1 was right 100% of the time.")


def test_it_handles_flat_results_and_empty_sections(tmp_path):
    path = write_experiment_record(
        run_id="r1", created_at="2026-11-03", code_commit=None, base_model="m", datasets={},
        hyperparameters={}, training_seconds=None, eval_commands=[], eval_results={"accuracy": 0.5, "note": "a|b"},
        out=tmp_path / "r.md",
    )
    text = path.read_text(encoding="utf-8")
    assert "| code commit | unknown (not a git checkout) |" in text
    assert "| accuracy | 0.5 |" in text and "| note | a\\|b |" in text
    assert "_No evaluation commands recorded._" in text and text.rstrip().endswith("_None._")


def test_the_cli_builds_the_record_from_a_run_card(tmp_path, capsys):
    datasets = make_datasets(tmp_path)
    run_dir = tmp_path / "run-42"
    run_dir.mkdir()
    card = {
        "status": "completed", "base_model": "smollm2-135m-instruct", "code_commit": "def5678",
        "duration_seconds": 61.0, "hyperparameters": {"num_epochs": 3.0, "train_mode": "sft"},
        "datasets": {"train": {"path": str(datasets["train"]), "sha256": sha256(datasets["train"])},
                     "valid": {"path": str(datasets["valid"]), "sha256": "0" * 64}},
    }
    (run_dir / "run_card.json").write_text(json.dumps(card), encoding="utf-8")
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"accuracy": 0.75}), encoding="utf-8")

    code = main([str(run_dir), "--eval-command", "make eval", "--eval-results", str(results),
                 "--notes", "first try", "--created-at", "2026-11-04"])

    assert code == 0
    text = (run_dir / "EXPERIMENT.md").read_text(encoding="utf-8")
    for expected in ("# Experiment run-42", "| date | 2026-11-04 |", "| code commit | def5678 |",
                     "| training time | 1m 01s (61.0 s) |", "| num_epochs | 3 |", "make eval", "| accuracy | 0.75 |",
                     f"| train | {datasets['train']} | {sha256(datasets['train'])} |", "first try"):
        assert expected in text, expected
    captured = capsys.readouterr()
    assert "dataset 'valid'" in captured.err and "changed since training" in captured.err
    assert "Warning: dataset 'valid'" in text


def test_the_cli_reports_a_missing_run_card(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "run_card.json not found" in capsys.readouterr().err
