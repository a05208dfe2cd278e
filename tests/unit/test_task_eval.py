"""Evaluating a text task (pipeline.eval.task_eval) and the registry helpers the web app builds on."""

import pytest

from pipeline.data.generate_frozen_eval_set import ALL_FIELDS, content_hash, freeze
from pipeline.data.jsonl import read_jsonl
from pipeline.eval.runner import EvalStopped
from pipeline.eval.task_eval import run_task_eval, task_predictor
from pipeline.tasks.registry import get_task, has_ab_test, prepare_rows, render_chats, task_names


def test_the_rule_baseline_scores_a_frozen_four_class_set_and_names_its_hash(tmp_path):
    task = get_task("four_class")
    frozen = freeze(task.demo_rows(24, 1, "mixed"), tmp_path, ALL_FIELDS)
    rows = read_jsonl(frozen.path)
    result = run_task_eval(task, task_predictor(task, "rule_baseline"), rows, batch_size=5, commit="c0ffee")
    assert result.provenance["eval_set_hash"] == frozen.content_hash == content_hash(rows, ALL_FIELDS)
    assert result.provenance["task"] == "four_class" and result.provenance["predictor"] == "rule_baseline"
    assert result.metrics["n_examples"] == 24 and 0 <= result.metrics["macro_f1"] <= 1
    assert [row["index"] for row in result.rows] == list(range(24))
    assert all(row["correct"] == (row["parsed"] == row["answer"]) for row in result.rows)
    assert sum(map(sum, result.charts["confusion"]["matrix"])) == 24


def test_a_presets_context_reaches_the_prompts_but_not_the_eval_set_hash():
    task = get_task("multiple_choice")
    rows = [row for row in task.demo_rows(60, 2, "en") if row["meta"]["family"] == "lore"]
    plain = run_task_eval(task, task.rule_baseline(), rows, commit="c0ffee")
    with_context = run_task_eval(task, task.rule_baseline(), rows, params={"retrieval_context": True},
                                 commit="c0ffee")
    assert plain.provenance["eval_set_hash"] == with_context.provenance["eval_set_hash"]
    assert all(row["prompt_text"].startswith("Context: ") for row in with_context.rows)
    assert with_context.metrics["accuracy"] > plain.metrics["accuracy"]  # the passage names the answer


def test_a_stop_request_stops_the_evaluation():
    task = get_task("four_class")
    with pytest.raises(EvalStopped, match="after 0 of 8"):
        run_task_eval(task, task.rule_baseline(), task.demo_rows(8, 0, "en"), should_stop=lambda: True)


def test_model_options_are_refused_where_they_mean_nothing():
    task = get_task("four_class")
    with pytest.raises(ValueError, match="rule_baseline takes no model options, got adapter"):
        task_predictor(task, "rule_baseline", adapter="/x")
    with pytest.raises(ValueError, match="fine_tuned needs an adapter"):
        task_predictor(task, "fine_tuned")
    with pytest.raises(ValueError, match="takes no adapter"):
        task_predictor(task, "prompt_baseline", adapter="/x")


def test_render_chats_reports_the_rows_a_train_mode_cannot_use():
    task = get_task("multiple_choice")
    rows = task.demo_rows(20, 0, "en")
    chats, refused = render_chats(task, rows, "cot")
    direct = [row for row in rows if row["meta"]["mode"] == "direct"]
    assert len(chats) == len(rows) - len(direct) and len(refused) == len(direct)
    assert refused[0].startswith(f"row {direct[0]['id']}: train mode 'cot' needs reasoning")
    assert all(chat["messages"][-1]["content"].endswith("Answer: " + chat["messages"][-1]["content"][-1])
               for chat in chats)


def test_prepare_rows_copies_rows_of_a_task_without_it_and_ab_tests_are_optional():
    task = get_task("four_class")
    rows = task.demo_rows(2, 0, "en")
    prepared = prepare_rows(task, rows, {"retrieval_context": True})
    assert prepared == rows and prepared[0] is not rows[0]
    assert {name: has_ab_test(get_task(name)) for name in task_names()} == {"four_class": True,
                                                                            "multiple_choice": False}
