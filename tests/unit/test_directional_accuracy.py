"""hidden_params rows labelled only with directions (the dev set, field rows): labels, scoring, and the
directional_accuracy metrics (issue 14, Build 2 and 7)."""

import pytest

from pipeline.eval.runner import score_predictions
from pipeline.tasks.hidden_params import AXES, TASK, format_target
from pipeline.tasks.hidden_params import metrics as hm
from pipeline.tasks.predictors import Prediction

HIGH_ENERGY_LOW_WARMTH = [{"axis": "energy", "direction": "high"}, {"axis": "warmth", "direction": "low"}]
TARGET_METRICS = ("vector_mae", "mse_raw", "mse_norm", "constraint_match_rate", "slot_exact_match",
                  "intent_score_mean", *(f"mae_{axis}" for axis in AXES), *(f"bucket_acc_{axis}" for axis in AXES))
DIRECTIONAL = ("directional_accuracy", "directional_accuracy/en", "directional_accuracy/ja")


def vector(energy=50, warmth=50, *rest):
    return (energy, warmth, *(rest or (50, 50, 50, 50)))


def directions_row(constraints, language="en"):
    return TASK.labelled_row("x", {"constraints": constraints}, language=language, row_id="d1", origin="dev set")


def target_row(values, language="en"):
    return TASK.labelled_row("x", list(values), language=language, row_id="t1", origin="correction")


def evaluate(examples, vectors_or_raw):
    predictions = [Prediction(raw=v if isinstance(v, str) else format_target(v), latency_ms=1.0)
                   for v in vectors_or_raw]
    return score_predictions(TASK, examples, predictions)


# -- labels -------------------------------------------------------------------------------


def test_an_answer_is_six_values_or_the_directions_only():
    assert TASK.check_answer(list(range(6))) == dict(zip(AXES, range(6)))
    assert TASK.check_answer({"constraints": HIGH_ENERGY_LOW_WARMTH}) == {"constraints": HIGH_ENERGY_LOW_WARMTH}


@pytest.mark.parametrize("constraints, why", [
    ([], "non-empty list"),
    ("energy high", "non-empty list"),
    ([{"axis": "tempo", "direction": "high"}], "axis must be one of"),
    ([{"axis": "energy", "direction": "up"}], "direction must be 'high' or 'low'"),
    ([{"axis": "energy", "direction": "high"}, {"axis": "energy", "direction": "low"}], "constrained twice"),
    ([{"axis": "energy", "direction": "high", "weight": 2}], 'exactly "axis" and "direction"'),
    (["energy"], 'exactly "axis" and "direction"'),
])
def test_bad_directions_are_refused_with_the_reason(constraints, why):
    with pytest.raises(ValueError, match=why):
        TASK.check_answer({"constraints": constraints})


def test_a_row_of_directions_has_no_target():
    row = directions_row(HIGH_ENERGY_LOW_WARMTH, "ja")
    assert row["target"] is None and row["constraints"] == HIGH_ENERGY_LOW_WARMTH and row["language"] == "ja"
    six = target_row(vector(80, 20))
    assert six["target"]["energy"] == 80 and six["constraints"] == HIGH_ENERGY_LOW_WARMTH


def test_the_import_reads_a_row_of_directions_and_still_the_six_values():
    row = TASK.validate_row({"request_text": " quiet rain ", "constraints": HIGH_ENERGY_LOW_WARMTH}, 3)
    assert row["target"] is None and row["constraints"] == HIGH_ENERGY_LOW_WARMTH and row["request_text"] == "quiet rain"
    assert row["language"] == "en" and row["id"] == "i000003"
    six = TASK.validate_row({"request_text": "quiet rain", **dict(zip(AXES, vector(80, 20)))}, 0)
    assert six["target"]["energy"] == 80 and six["constraints"] == HIGH_ENERGY_LOW_WARMTH
    with pytest.raises(ValueError, match="missing axes"):
        TASK.validate_row({"request_text": "quiet rain"}, 0)
    with pytest.raises(ValueError, match="request_text"):
        TASK.validate_row({"constraints": HIGH_ENERGY_LOW_WARMTH}, 0)


def test_the_dev_set_rows_carry_directions_only():
    rows = TASK.field_dev_rows()
    assert len(rows) >= 200 and {row["language"] for row in rows} == {"en", "ja"}
    assert all(row["target"] is None and row["constraints"] and row["teacher"] == "dev set" for row in rows)


# -- scoring ------------------------------------------------------------------------------


def test_a_row_without_target_is_scored_by_its_constraints():
    example = directions_row(HIGH_ENERGY_LOW_WARMTH)
    both = TASK.score_row(example, format_target(vector(55, 45)))  # both bounds inclusive
    assert both["constraints_met"] == 2 and both["error"] == 0.0 and both["valid"] and both["target"] is None
    one = TASK.score_row(example, format_target(vector(90, 60)))
    assert one["constraints_met"] == 1 and one["error"] == 50.0
    unreadable = TASK.score_row(example, "no idea")
    assert unreadable["parsed"] is None and not unreadable["valid"]
    assert unreadable["constraints_met"] == 0 and unreadable["error"] == 100.0  # neutral meets nothing


def test_directional_accuracy_pools_constraints_over_every_row():
    rows, values = evaluate(
        [directions_row(HIGH_ENERGY_LOW_WARMTH), directions_row([{"axis": "energy", "direction": "low"}], "ja")],
        [vector(70, 70), vector(70, 70)])
    assert [row["constraints_met"] for row in rows] == [1, 0]
    assert values["directional_accuracy"] == pytest.approx(1 / 3)
    assert values["directional_accuracy/en"] == 0.5 and values["directional_accuracy/ja"] == 0.0
    assert all(values[key] is None for key in TARGET_METRICS)  # no row has a target
    assert values["json_valid_rate"] == 1.0


def test_a_mixed_set_reads_target_metrics_on_target_rows_and_directions_on_all():
    mixed_rows, mixed = evaluate([target_row(vector(80, 20)), directions_row([{"axis": "energy", "direction": "low"}])],
                                 [vector(70, 30), vector(70, 30)])
    target_only_rows, target_only = evaluate([target_row(vector(80, 20))], [vector(70, 30)])
    for key in TARGET_METRICS:
        assert mixed[key] == target_only[key], key
    assert mixed["vector_mae"] == pytest.approx(20 / 6)
    assert mixed["constraint_match_rate"] == 1.0  # the target row's two constraints, both met
    assert mixed["directional_accuracy"] == pytest.approx(2 / 3)  # and the directions row's one, missed
    assert mixed["directional_accuracy/ja"] is None  # no Japanese row
    assert [row["error"] for row in mixed_rows] == [target_only_rows[0]["error"], 100.0]


def test_on_rows_with_targets_directional_accuracy_is_the_constraint_match_rate():
    rows = [target_row(vector(80, 20)), target_row(vector(10, 50), "ja"), target_row(vector(50, 50))]
    _, values = evaluate(rows, [vector(60, 60), vector(40, 50), vector(50, 50)])
    assert values["directional_accuracy"] == values["constraint_match_rate"] == pytest.approx(2 / 3)
    assert values["directional_accuracy/en"] == 0.5 and values["directional_accuracy/ja"] == 1.0
    _, neutral = evaluate([target_row(vector(50, 50))], [vector(50, 50)])
    assert all(neutral[key] is None for key in DIRECTIONAL)  # nothing to express


def test_the_new_metrics_are_declared_higher_is_better_after_the_old_ones():
    keys = list(TASK.higher_is_better)
    assert keys[-3:] == list(DIRECTIONAL) and all(TASK.higher_is_better[key] for key in DIRECTIONAL)
    assert list(hm.row_metrics([{**target_row(vector()), "parsed": None, "valid": False}])) == keys


def test_charts_and_error_bands_skip_rows_without_a_target():
    rows, _ = evaluate([target_row(vector(80, 20)), directions_row(HIGH_ENERGY_LOW_WARMTH)],
                       [vector(70, 30), vector(70, 30)])
    scatter = TASK.charts(rows)["scatter"]["energy"]
    assert scatter == {"target": [80], "predicted": [70]}
    assert isinstance(TASK.error_bands(rows), list)
