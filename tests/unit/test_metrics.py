"""Every §6 metric on examples small enough to check on paper."""

import pytest

from pipeline.eval import metrics as m
from pipeline.eval.runner import score_predictions
from pipeline.tasks.hidden_params import AXES, TASK, format_target
from pipeline.tasks.hidden_params import metrics as hm
from pipeline.tasks.predictors import Prediction

NEUTRAL = (50,) * 6
T1, P1 = (40, 50, 60, 70, 80, 90), (50, 50, 50, 50, 50, 50)  # |errors| 10 0 10 20 30 40 = 110
T2, P2 = (0, 100, 50, 50, 50, 50), (10, 90, 50, 50, 50, 50)  # |errors| 10 10 0 0 0 0 = 20


def prediction(vector_or_raw, latency_ms=1.0, usage=None):
    raw = vector_or_raw if isinstance(vector_or_raw, str) else format_target(vector_or_raw)
    return Prediction(raw=raw, latency_ms=latency_ms, usage=usage or {})


def compute_metrics(examples, predictions, cost=None):
    """The metric dict the eval runner stores for these predictions."""
    return score_predictions(TASK, examples, predictions, cost=cost)[1]


def row(target, constraints=None):
    example = {"request_text": "x", "language": "en", "target": dict(zip(AXES, target))}
    if constraints is not None:
        example["constraints"] = constraints
    return example


def test_json_valid_rate_counts_strict_parses_only():
    outputs = [format_target(T1), "garbage", " " + format_target(T2) + "\n", "```json\n" + format_target(T1) + "```"]
    assert hm.json_valid_rate(outputs) == 0.5


def test_vector_mae_averages_over_examples_and_axes():
    assert hm.vector_mae([T1, T2], [P1, P2]) == pytest.approx(130 / 12)


def test_mse_raw_and_norm():
    # (100 + 0 + 100 + 400 + 900 + 1600) + (100 + 100) = 3300 over 12 values
    assert hm.mse_raw([T1, T2], [P1, P2]) == pytest.approx(275.0)
    assert hm.mse_norm([T1, T2], [P1, P2]) == pytest.approx(0.0275)


def test_axis_mae_and_error_distribution():
    assert hm.axis_mae([T1, T2], [P1, P2]) == {
        "energy": 10.0,
        "warmth": 5.0,
        "brightness": 5.0,
        "acousticness": 10.0,
        "complexity": 15.0,
        "nostalgia": 20.0,
    }
    assert hm.errors_by_axis([T1, T2], [P1, P2])["nostalgia"] == [40, 0]
    assert hm.absolute_errors(T1, P1) == (10, 0, 10, 20, 30, 40)


def test_an_invalid_output_is_scored_as_the_neutral_vector():
    result = compute_metrics([row(T1)], [prediction("I'd say energetic!")])
    assert result["json_valid_rate"] == 0.0
    assert result["vector_mae"] == pytest.approx(110 / 6)
    assert result["mse_raw"] == pytest.approx(3100 / 6)
    assert result["intent_score_mean"] == 0.5


@pytest.mark.parametrize(
    "direction, value, satisfied",
    [
        ("high", 55, True),
        ("high", 54, False),
        ("high", 100, True),
        ("low", 45, True),
        ("low", 46, False),
        ("low", 0, True),
    ],
)
def test_constraint_bounds_are_inclusive(direction, value, satisfied):
    assert hm.constraint_satisfied(direction, value) is satisfied


def test_constraint_match_rate_pools_constraints_over_examples():
    constraints = [
        [{"axis": "energy", "direction": "high"}, {"axis": "warmth", "direction": "low"}],
        [{"axis": "nostalgia", "direction": "high"}],
    ]
    predicted = [(55, 46, 50, 50, 50, 50), (50, 50, 50, 50, 50, 90)]
    assert hm.constraint_match_rate(constraints, predicted) == pytest.approx(2 / 3)


def test_constraint_match_rate_is_none_without_constraints():
    assert hm.constraint_match_rate([[], []], [NEUTRAL, NEUTRAL]) is None
    assert compute_metrics([row(NEUTRAL)], [prediction(NEUTRAL)])["constraint_match_rate"] is None


def test_constraints_come_from_the_row_or_else_from_the_target():
    target = (70, 30, 50, 50, 50, 50)  # constraints_for: energy high, warmth low
    predicted = (60, 60, 50, 50, 50, 50)  # satisfies energy high only
    assert compute_metrics([row(target)], [prediction(predicted)])["constraint_match_rate"] == 0.5
    stored = [{"axis": "warmth", "direction": "low"}]
    assert compute_metrics([row(target, stored)], [prediction(predicted)])["constraint_match_rate"] == 0.0


@pytest.mark.parametrize(
    "value, expected", [(0, 0), (19, 0), (20, 1), (39, 1), (40, 2), (59, 2), (60, 3), (80, 4), (100, 4)]
)
def test_bucket_edges(value, expected):
    assert hm.bucket(value) == expected


def test_slot_exact_match_needs_all_six_axes_in_bucket():
    targets = [(20, 50, 50, 50, 50, 100), (20, 50, 50, 50, 50, 100)]
    predicted = [(39, 40, 59, 41, 58, 80), (19, 40, 59, 41, 58, 80)]  # second misses on energy only
    assert hm.slot_exact_match(targets, predicted) == 0.5
    accuracy = hm.bucket_accuracy(targets, predicted)
    assert accuracy["energy"] == 0.5
    assert all(accuracy[axis] == 1.0 for axis in AXES[1:])


@pytest.mark.parametrize(
    "target, predicted, expected",
    [
        ((100, 50, 50, 50, 50, 50), (100, 50, 50, 50, 50, 50), 1.0),
        ((100, 50, 50, 50, 50, 50), (60, 50, 50, 50, 50, 50), 1.0),  # direction, not magnitude
        ((100, 50, 50, 50, 50, 50), (0, 50, 50, 50, 50, 50), 0.0),
        ((100, 50, 50, 50, 50, 50), (50, 100, 50, 50, 50, 50), 0.5),  # orthogonal
        ((100, 100, 50, 50, 50, 50), (100, 50, 50, 50, 50, 50), (1 + 2**-0.5) / 2),  # cos 45 degrees
        ((100, 50, 50, 50, 50, 50), NEUTRAL, 0.5),  # zero prediction vector
        (NEUTRAL, (0, 0, 0, 0, 0, 0), 0.5),  # zero target vector
    ],
)
def test_intent_score(target, predicted, expected):
    assert hm.intent_score(target, predicted) == pytest.approx(expected)


def test_intent_score_mean():
    targets = [(100, 50, 50, 50, 50, 50), (100, 50, 50, 50, 50, 50)]
    assert hm.intent_score_mean(targets, [(90, 50, 50, 50, 50, 50), (10, 50, 50, 50, 50, 50)]) == 0.5


def test_p95_is_the_nearest_rank_percentile():
    assert m.p95_inference_latency_ms(list(range(20, 0, -1))) == 19.0  # ceil(0.95 * 20) = 19th smallest
    assert m.p95_inference_latency_ms(list(range(1, 101))) == 95.0
    assert m.p95_inference_latency_ms([3.0, 1.0, 2.0]) == 3.0  # ceil(2.85) = 3rd
    assert m.p95_inference_latency_ms([7.5]) == 7.5


def test_cost_of_rules_local_and_api_predictors():
    two_seconds = [prediction(NEUTRAL, latency_ms=1000.0), prediction(NEUTRAL, latency_ms=1000.0)]
    assert m.cost_per_100_requests_usd(two_seconds, m.CostModel.free()) == 0.0
    # $3.60/h for 2 s = $0.002 for 2 requests -> $0.10 per 100
    assert m.cost_per_100_requests_usd(two_seconds, m.CostModel.local(3.6)) == pytest.approx(0.1)
    usage = {"prompt_tokens": 1000, "completion_tokens": 500}
    api = m.CostModel.api({"prompt_tokens": 1.0, "completion_tokens": 2.0})  # USD per million tokens
    # 1000 * 1e-6 + 500 * 2e-6 = $0.002 per request -> $0.20 per 100
    assert m.cost_per_100_requests_usd([prediction(NEUTRAL, usage=usage)] * 3, api) == pytest.approx(0.2)


def test_cost_is_unknown_without_a_model_or_without_usage():
    assert m.cost_per_100_requests_usd([prediction(NEUTRAL)], None) is None
    api = m.CostModel.api({"prompt_tokens": 1.0})
    assert m.cost_per_100_requests_usd([prediction(NEUTRAL)], api) is None


def test_cost_models_refuse_missing_prices():
    with pytest.raises(ValueError):
        m.CostModel("local")
    with pytest.raises(ValueError):
        m.CostModel.api({})
    with pytest.raises(ValueError):
        m.CostModel("cloud")


def test_loop_completion_rate():
    assert m.loop_completion_rate(2, 2) == 1.0
    assert m.loop_completion_rate(1, 2) == 0.5
    assert m.loop_completion_rate(0, 0) is None
    with pytest.raises(ValueError):
        m.loop_completion_rate(3, 2)


def test_compute_metrics_returns_the_flat_dict():
    result = compute_metrics(
        [row(T1), row(T2)], [prediction(P1, latency_ms=2.0), prediction(P2, latency_ms=4.0)], cost=m.CostModel.free()
    )
    assert list(result) == [
        "json_valid_rate", "vector_mae", "mse_raw", "mse_norm", "constraint_match_rate", "slot_exact_match",
        "intent_score_mean",
        *(f"mae_{axis}" for axis in AXES),
        *(f"bucket_acc_{axis}" for axis in AXES),
        "directional_accuracy", "directional_accuracy/en", "directional_accuracy/ja",
        *m.RUNNER_METRICS,
        "n_examples",
    ]
    assert list(result) == [*m.metric_keys(TASK), "n_examples"]
    assert result["vector_mae"] == pytest.approx(130 / 12)
    assert result["p95_inference_latency_ms"] == 4.0
    assert result["cost_per_100_requests_usd"] == 0.0
    assert result["mae_nostalgia"] == 20.0
    assert result["n_examples"] == 2


def test_metrics_refuse_empty_or_mismatched_input():
    with pytest.raises(ValueError):
        hm.vector_mae([], [])
    with pytest.raises(ValueError):
        compute_metrics([row(T1)], [])


def test_lower_is_better():
    assert m.lower_is_better("vector_mae") and m.lower_is_better("mae_energy")
    assert not m.lower_is_better("intent_score_mean") and not m.lower_is_better("bucket_acc_energy")
    assert m.lower_is_better("p95_inference_latency_ms") and m.lower_is_better("cost_per_100_requests_usd")
    assert m.lower_is_better("vector_mae", TASK) and not m.lower_is_better("json_valid_rate", TASK)
