"""Acceptance criteria as data, and verdicts whose reasons carry the numbers."""

import pytest

from pipeline.eval.acceptance import (
    REQUIRED_TRACKING_LINKS,
    Criterion,
    LoopStatus,
    default_criteria,
    evaluate_criteria,
    overall,
)

GOOD = {
    "fine_tuned": {"json_valid_rate": 0.99, "vector_mae": 12.3, "mse_norm": 0.021, "intent_score_mean": 0.91,
                   "directional_accuracy": 0.93},
    "prompt_baseline": {"json_valid_rate": 0.7, "vector_mae": 18.9, "mse_norm": 0.05, "intent_score_mean": 0.8,
                        "directional_accuracy": 0.6},
    "rule_baseline": {"json_valid_rate": 1.0, "vector_mae": 13.1, "mse_norm": 0.03, "intent_score_mean": 0.89,
                      "directional_accuracy": 0.88},
}
SAME_SET = {"fine_tuned": "a" * 64, "prompt_baseline": "a" * 64, "rule_baseline": "a" * 64}
LINKS = {name: f"file:///runs/1/{name}" for name in REQUIRED_TRACKING_LINKS}


def judge(metrics=GOOD, hashes=SAME_SET, loop=LoopStatus(2, 2), tracking=LINKS):
    verdicts = evaluate_criteria(default_criteria(), metrics, eval_set_hashes=hashes, loop=loop, tracking=tracking)
    return {verdict.criterion.key: verdict for verdict in verdicts}


def test_the_defaults_are_the_criteria_of_design_section_7():
    assert [criterion.key for criterion in default_criteria()] == [
        "json_valid_rate",
        "beats_prompt_baseline_vector_mae",
        "beats_prompt_baseline_mse_norm",
        "beats_prompt_baseline_intent_score_mean",
        "beats_prompt_baseline_directional_accuracy",
        "beats_rule_baseline_vector_mae",
        "beats_rule_baseline_mse_norm",
        "beats_rule_baseline_intent_score_mean",
        "beats_rule_baseline_directional_accuracy",
        "no_regression",
        "loop_completion",
        "tracking_complete",
    ]


def test_everything_passes_with_reasons_that_show_the_numbers():
    verdicts = judge()
    assert all(verdict.passed is True for verdict in verdicts.values())
    assert verdicts["json_valid_rate"].reason == "fine_tuned json_valid_rate 0.99 ≥ 0.98"
    assert verdicts["beats_prompt_baseline_vector_mae"].reason == (
        f"fine_tuned vector_mae 12.3 < prompt_baseline 18.9 (lower is better) on eval set {'a' * 12}"
    )
    assert "fine_tuned intent_score_mean 0.91 > prompt_baseline 0.8" in (
        verdicts["beats_prompt_baseline_intent_score_mean"].reason
    )
    assert verdicts["loop_completion"].reason == "loop_completion_rate 1 (2/2 cycles) ≥ 1"
    assert verdicts["tracking_complete"].reason.startswith("all 4 tracking links present")
    assert overall(list(verdicts.values())) is True


def test_failures_say_which_way_and_by_how_much():
    metrics = {
        "fine_tuned": {**GOOD["fine_tuned"], "json_valid_rate": 0.95, "vector_mae": 19.2},
        "prompt_baseline": {**GOOD["prompt_baseline"], "intent_score_mean": 0.91},
    }
    verdicts = judge(metrics, loop=LoopStatus(2, 1), tracking={**LINKS, "adapter_artifact": ""})
    assert verdicts["json_valid_rate"].passed is False
    assert verdicts["json_valid_rate"].reason == "fine_tuned json_valid_rate 0.95 < 0.98 (needs >= 0.98)"
    assert verdicts["beats_prompt_baseline_vector_mae"].passed is False
    assert "fine_tuned vector_mae 19.2 is not below prompt_baseline 18.9" in (
        verdicts["beats_prompt_baseline_vector_mae"].reason
    )
    assert verdicts["beats_prompt_baseline_intent_score_mean"].passed is False  # a tie is not better
    assert verdicts["loop_completion"].reason == "loop_completion_rate 0.5 (1/2 cycles) < 1 (needs >= 1)"
    assert verdicts["tracking_complete"].reason == "missing tracking links: adapter_artifact"
    assert overall(list(verdicts.values())) is False


def test_a_comparison_across_different_eval_sets_fails():
    verdict = judge(hashes={"fine_tuned": "a" * 64, "prompt_baseline": "b" * 64})["beats_prompt_baseline_mse_norm"]
    assert verdict.passed is False
    assert "different eval sets" in verdict.reason and "a" * 12 in verdict.reason and "b" * 12 in verdict.reason


def test_missing_data_never_passes_and_says_what_is_missing():
    verdicts = judge(
        metrics={"prompt_baseline": GOOD["prompt_baseline"]},
        hashes={"prompt_baseline": "a" * 64},
        loop=LoopStatus(1, 1),
        tracking={**LINKS, "wandb_run": None},
    )
    assert verdicts["json_valid_rate"].passed is False
    assert verdicts["json_valid_rate"].reason == "no metrics for fine_tuned"
    assert verdicts["beats_prompt_baseline_vector_mae"].reason == (
        "no metrics for fine_tuned; no eval-set hash for fine_tuned"
    )
    assert verdicts["loop_completion"].reason == "1 cycle(s) started; needs at least 2"
    assert verdicts["tracking_complete"].reason == "missing tracking links: wandb_run"  # online link left empty
    assert not any(verdict.passed for verdict in verdicts.values())


def test_a_metric_without_a_value_is_missing():
    metrics = {"fine_tuned": {**GOOD["fine_tuned"], "mse_norm": None}, "prompt_baseline": GOOD["prompt_baseline"]}
    verdict = judge(metrics)["beats_prompt_baseline_mse_norm"]
    assert (verdict.passed, verdict.reason) == (False, "fine_tuned has no mse_norm value")


def test_loop_and_tracking_do_not_apply_when_not_given():
    verdicts = judge(loop=None, tracking=None)
    assert verdicts["loop_completion"].passed is None
    assert verdicts["tracking_complete"].passed is None
    assert overall(list(verdicts.values())) is True
    assert overall([verdicts["loop_completion"]]) is None


def test_criteria_round_trip_through_plain_dicts():
    for criterion in default_criteria():
        assert Criterion.from_dict(criterion.to_dict()) == criterion


def test_an_edited_threshold_is_used():
    strict = Criterion.from_dict({**default_criteria()[0].to_dict(), "threshold": "0.995"})
    [verdict] = evaluate_criteria([strict], GOOD, eval_set_hashes=SAME_SET)
    assert verdict.passed is False and "needs >= 0.995" in verdict.reason


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"comparator": "~="}, "comparator must be one of"),
        ({"comparator": ">="}, "needs a threshold"),
        ({"comparator": "better_than_baseline", "baseline": "fine_tuned", "direction": "lower"}, "baseline other"),
        ({"comparator": "better_than_baseline", "baseline": "prompt_baseline", "direction": "up"}, "direction"),
        ({"comparator": "all_present"}, "all_present"),
        ({"comparator": "<=", "threshold": 1, "applies_to": None}, "needs applies_to"),
    ],
)
def test_invalid_criteria_are_refused_with_the_problem(fields, problem):
    with pytest.raises(ValueError, match=problem):
        Criterion(**{"key": "k", "metric": "vector_mae", "applies_to": "fine_tuned", **fields})


def test_unknown_fields_are_refused():
    with pytest.raises(ValueError, match="unknown criterion fields: colour"):
        Criterion.from_dict({**default_criteria()[0].to_dict(), "colour": "red"})


def test_the_defaults_of_another_task_are_its_own_criteria_then_the_loop_and_tracking():
    from pipeline.tasks.registry import get_task

    task = get_task("four_class")
    criteria = default_criteria(task)
    assert [criterion.key for criterion in criteria] == [
        *(spec.key for spec in task.default_criteria()), "loop_completion", "tracking_complete"]
    assert all(criterion.direction == "higher" for criterion in criteria if criterion.metric == "macro_f1")
