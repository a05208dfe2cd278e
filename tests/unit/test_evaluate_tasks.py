"""Evaluating the text tasks through the one runner (pipeline.eval.runner.evaluate), the predictor factory and the
run_eval CLI, and the registry helpers the web app builds on."""

import pytest

from pipeline.data.generate_frozen_eval_set import ALL_FIELDS, content_hash, freeze
from pipeline.data.jsonl import read_json, read_jsonl, write_jsonl
from pipeline.eval import run_eval as run_eval_cli
from pipeline.eval.predictors import build_predictor
from pipeline.eval.runner import EvalStopped, evaluate
from pipeline.tasks.registry import get_task, render_chats


def test_the_rule_baseline_scores_a_frozen_four_class_set_and_names_its_hash(tmp_path):
    task = get_task("four_class")
    frozen = freeze(task.demo_rows(24, 1, "mixed"), tmp_path, ALL_FIELDS)
    rows = read_jsonl(frozen.path)
    result = evaluate(task, build_predictor(task, "rule_baseline"), rows, batch_size=5, commit="c0ffee")
    assert result.provenance["eval_set_hash"] == frozen.content_hash == content_hash(rows, ALL_FIELDS)
    assert result.provenance["task"] == "four_class" and result.provenance["predictor"] == "rule_baseline"
    assert result.metrics["n_examples"] == 24 and 0 <= result.metrics["macro_f1"] <= 1
    assert [row["index"] for row in result.rows] == list(range(24))
    assert all(row["correct"] == (row["parsed"] == row["answer"]) for row in result.rows)
    assert sum(map(sum, result.charts["confusion"]["matrix"])) == 24


def test_a_presets_context_reaches_the_prompts_but_not_the_eval_set_hash():
    task = get_task("multiple_choice")
    rows = [row for row in task.demo_rows(60, 2, "en") if row["meta"]["family"] == "lore"]
    plain = evaluate(task, task.rule_baseline(), rows, commit="c0ffee")
    with_context = evaluate(task, task.rule_baseline(), rows, params={"retrieval_context": True}, commit="c0ffee")
    assert plain.provenance["eval_set_hash"] == with_context.provenance["eval_set_hash"]
    assert all(row["prompt_text"].startswith("Context: ") for row in with_context.rows)
    assert with_context.metrics["accuracy"] > plain.metrics["accuracy"]  # the passage names the answer


def test_a_stop_request_stops_the_evaluation():
    task = get_task("four_class")
    with pytest.raises(EvalStopped, match="after 0 of 8"):
        evaluate(task, task.rule_baseline(), task.demo_rows(8, 0, "en"), should_stop=lambda: True)


def test_model_options_are_refused_where_they_mean_nothing():
    task = get_task("four_class")
    with pytest.raises(ValueError, match="rule_baseline takes no model options, got adapter"):
        build_predictor(task, "rule_baseline", adapter="/x")
    with pytest.raises(ValueError, match="fine_tuned needs an adapter"):
        build_predictor(task, "fine_tuned")
    with pytest.raises(ValueError, match="takes no adapter"):
        build_predictor(task, "prompt_baseline", adapter="/x")


def test_render_chats_reports_the_rows_a_train_mode_cannot_use():
    task = get_task("multiple_choice")
    rows = task.demo_rows(20, 0, "en")
    chats, refused = render_chats(task, rows, "cot")
    direct = [row for row in rows if row["meta"]["mode"] == "direct"]
    assert len(chats) == len(rows) - len(direct) and len(refused) == len(direct)
    assert refused[0].startswith(f"row {direct[0]['id']}: train mode 'cot' needs reasoning")
    assert all(chat["messages"][-1]["content"].endswith("Answer: " + chat["messages"][-1]["content"][-1])
               for chat in chats)


def test_prepare_rows_copies_rows_of_a_task_without_it():
    task = get_task("four_class")
    rows = task.demo_rows(2, 0, "en")
    prepared = task.prepare_rows(rows, {"retrieval_context": True})
    assert prepared == rows and prepared[0] is not rows[0]


def test_the_run_eval_cli_evaluates_any_task_with_a_preset(tmp_path, capsys):
    task = get_task("multiple_choice")
    rows = [row for row in task.demo_rows(60, 2, "en") if row["meta"]["family"] == "lore"]
    eval_set = write_jsonl(tmp_path / "frozen.jsonl", rows)
    preset = next(preset for preset in task.presets if preset.params.get("retrieval_context"))
    out = tmp_path / "results" / "rule.jsonl"
    run_eval_cli.main(["--task", "multiple_choice", "--mode", "rule_baseline", "--preset", preset.key,
                       "--eval-set", str(eval_set), "--out", str(out)])
    saved = read_json(tmp_path / "results" / "rule.metrics.json")
    assert saved["provenance"]["task"] == "multiple_choice" and saved["provenance"]["preset"] == preset.key
    assert saved["provenance"]["eval_set_hash"] == content_hash(rows, ALL_FIELDS)
    assert saved["metrics"]["n_examples"] == len(rows) == len(read_jsonl(out))
    assert all(row["prompt_text"].startswith("Context: ") for row in read_jsonl(out))
    assert "wrote" in capsys.readouterr().out


def test_the_run_eval_cli_refuses_a_preset_the_task_does_not_have(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        run_eval_cli.main(["--task", "four_class", "--mode", "rule_baseline", "--preset", "nope",
                           "--eval-set", "x.jsonl", "--out", str(tmp_path / "r.jsonl")])
    assert exit_info.value.code == 2 and "--preset must be one of" in capsys.readouterr().err
