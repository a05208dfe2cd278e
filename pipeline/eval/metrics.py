"""The metrics of DESIGN §6 for the six-parameter task, as pure functions.

Every error metric scores an invalid output as the neutral vector (all 50):
a model that refuses to answer must not look better than one that guesses,
and the game itself falls back to neutral when it cannot read the JSON.

The building blocks take plain vectors (six ints in canonical axis order) so
that they can be checked by hand; `score` turns eval rows and predictions into
`ScoredExample`s and `summarize` turns those into the flat metric dict that the
runner stores and the dashboard charts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.tasks.predictors import Prediction
from pipeline.tasks.hidden_params import (
    AXES,
    HIGH_SATISFIED_AT,
    LOW_SATISFIED_AT,
    NEUTRAL,
    constraints_for,
    parse,
    to_vector,
)

Vector = tuple[int, ...]

# Bucket edges of slot_exact_match: [0,20), [20,40), [40,60), [60,80), [80,100].
BUCKET_WIDTH = 20
BUCKET_COUNT = 5
P95 = 0.95

# Keys of the flat metric dict, in display order (the per-axis keys follow).
METRIC_KEYS: tuple[str, ...] = (
    "json_valid_rate",
    "vector_mae",
    "mse_raw",
    "mse_norm",
    "constraint_match_rate",
    "slot_exact_match",
    "intent_score_mean",
    "p95_inference_latency_ms",
    "cost_per_100_requests_usd",
)
_LOWER_IS_BETTER = frozenset(
    {"vector_mae", "mse_raw", "mse_norm", "p95_inference_latency_ms", "cost_per_100_requests_usd"}
)


def lower_is_better(key: str) -> bool:
    """Which way a metric improves, for chart arrows and comparisons (errors, latency, cost go down)."""
    return key in _LOWER_IS_BETTER or key.startswith("mae_")


def _require_examples(count: int) -> None:
    if count == 0:
        raise ValueError("metrics need at least one example")


def _require_same_length(targets: Sequence[Any], predicted: Sequence[Any]) -> None:
    if len(targets) != len(predicted):
        raise ValueError(f"{len(targets)} targets but {len(predicted)} predictions")
    _require_examples(len(targets))


# -- validity -----------------------------------------------------------------


def json_valid_rate(raw_outputs: Sequence[str]) -> float:
    """Share of outputs that pass the strict parser of DESIGN §6."""
    _require_examples(len(raw_outputs))
    return sum(parse(raw) is not None for raw in raw_outputs) / len(raw_outputs)


# -- errors on the 0-100 scale ---------------------------------------------------


def absolute_errors(target: Vector, predicted: Vector) -> Vector:
    """Per-axis |pred - target| of one example; the unit of the error-distribution charts."""
    return tuple(abs(p - t) for p, t in zip(predicted, target))


def vector_mae(targets: Sequence[Vector], predicted: Sequence[Vector]) -> float:
    """Mean over examples and axes of |pred - target|."""
    _require_same_length(targets, predicted)
    total = sum(sum(absolute_errors(t, p)) for t, p in zip(targets, predicted))
    return total / (len(targets) * len(AXES))


def mse_raw(targets: Sequence[Vector], predicted: Sequence[Vector]) -> float:
    """Mean over examples and axes of (pred - target)^2, on the 0-100 scale."""
    _require_same_length(targets, predicted)
    total = sum((p - t) ** 2 for target, pred in zip(targets, predicted) for p, t in zip(pred, target))
    return total / (len(targets) * len(AXES))


def mse_norm(targets: Sequence[Vector], predicted: Sequence[Vector]) -> float:
    """mse_raw on the 0-1 scale, comparable with losses reported elsewhere."""
    return mse_raw(targets, predicted) / 10_000


def axis_mae(targets: Sequence[Vector], predicted: Sequence[Vector]) -> dict[str, float]:
    """MAE per axis, to show which parameter a model gets wrong."""
    _require_same_length(targets, predicted)
    errors = errors_by_axis(targets, predicted)
    return {axis: sum(values) / len(values) for axis, values in errors.items()}


def errors_by_axis(targets: Sequence[Vector], predicted: Sequence[Vector]) -> dict[str, list[int]]:
    """Every example's absolute error, grouped by axis: the data of the error histograms."""
    per_example = [absolute_errors(t, p) for t, p in zip(targets, predicted)]
    return {axis: [errors[index] for errors in per_example] for index, axis in enumerate(AXES)}


# -- constraints ------------------------------------------------------------------


def constraint_satisfied(direction: str, value: int) -> bool:
    """A "high" constraint holds at pred >= 55, a "low" one at pred <= 45 (bounds inclusive)."""
    if direction == "high":
        return value >= HIGH_SATISFIED_AT
    if direction == "low":
        return value <= LOW_SATISFIED_AT
    raise ValueError(f"constraint direction must be 'high' or 'low', got {direction!r}")


def constraint_match_rate(
    constraints: Sequence[Sequence[Mapping[str, str]]], predicted: Sequence[Vector]
) -> float | None:
    """Satisfied constraints / all constraints, pooled over examples.

    Pooled rather than averaged per example, so an example with four salient
    axes weighs four times one with a single salient axis. None when the set
    has no constraint at all (every target between 36 and 64 on every axis):
    there is nothing to express, and 0 or 1 would both be a made-up number.
    """
    _require_same_length(constraints, predicted)
    index = {axis: position for position, axis in enumerate(AXES)}
    outcomes = [
        constraint_satisfied(item["direction"], vector[index[item["axis"]]])
        for items, vector in zip(constraints, predicted)
        for item in items
    ]
    if not outcomes:
        return None
    return sum(outcomes) / len(outcomes)


# -- buckets ----------------------------------------------------------------------


def bucket(value: int) -> int:
    """0..4 for [0,20), [20,40), [40,60), [60,80), [80,100]; 100 joins the last bucket."""
    return min(value // BUCKET_WIDTH, BUCKET_COUNT - 1)


def slot_exact_match(targets: Sequence[Vector], predicted: Sequence[Vector]) -> float:
    """Share of examples whose six predictions all land in the target's bucket."""
    _require_same_length(targets, predicted)
    hits = sum(all(bucket(p) == bucket(t) for p, t in zip(pred, target)) for target, pred in zip(targets, predicted))
    return hits / len(targets)


def bucket_accuracy(targets: Sequence[Vector], predicted: Sequence[Vector]) -> dict[str, float]:
    """Per axis, the share of examples predicted in the target's bucket."""
    _require_same_length(targets, predicted)
    return {
        axis: sum(bucket(pred[index]) == bucket(target[index]) for target, pred in zip(targets, predicted))
        / len(targets)
        for index, axis in enumerate(AXES)
    }


# -- intent -----------------------------------------------------------------------


def intent_score(target: Vector, predicted: Vector) -> float:
    """(cos(pred - 50, target - 50) + 1) / 2: did the model push each axis the right way?

    Magnitude-blind on purpose: it rewards reading the direction of a request
    even when the numbers are off. 0.5 (no information) when either centred
    vector is zero, since a cosine with the zero vector is undefined.
    """
    centred_target = [t - 50 for t in target]
    centred_pred = [p - 50 for p in predicted]
    norm = math.sqrt(sum(t * t for t in centred_target)) * math.sqrt(sum(p * p for p in centred_pred))
    if norm == 0:
        return 0.5
    cosine = sum(t * p for t, p in zip(centred_target, centred_pred)) / norm
    return (max(-1.0, min(1.0, cosine)) + 1) / 2


def intent_score_mean(targets: Sequence[Vector], predicted: Sequence[Vector]) -> float:
    _require_same_length(targets, predicted)
    return sum(intent_score(t, p) for t, p in zip(targets, predicted)) / len(targets)


# -- latency and cost ---------------------------------------------------------------


def percentile_nearest_rank(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the ceil(fraction * n)-th smallest value.

    Chosen over interpolation because it always returns a latency that was
    actually measured, the usual reading of a latency SLO ("95% of requests
    took at most this long"). For 20 values, p95 is the 19th smallest.
    """
    _require_examples(len(values))
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    ordered = sorted(values)
    rank = math.ceil(fraction * len(ordered))
    return float(ordered[rank - 1])


def p95_inference_latency_ms(latencies_ms: Sequence[float]) -> float:
    """95th percentile (nearest rank) of the per-request wall times."""
    return percentile_nearest_rank(latencies_ms, P95)


def row_latencies_ms(rows: Sequence[Mapping[str, Any]]) -> list[float]:
    """The "latency_ms" of the eval rows that carry one, in row order."""
    return [float(row["latency_ms"]) for row in rows if row.get("latency_ms") is not None]


def rows_p95_latency_ms(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """``p95_inference_latency_ms`` of eval rows' "latency_ms"; None when no row carries one."""
    latencies = row_latencies_ms(rows)
    return p95_inference_latency_ms(latencies) if latencies else None


@dataclass(frozen=True)
class CostModel:
    """How a predictor's requests turn into dollars (DESIGN §6).

    kind "rules": free. kind "local": `hourly_usd` of the hardware times the
    inference seconds actually spent. kind "api": each Prediction's `usage`
    token counts times `usd_per_million_tokens`, keyed like the usage dict
    (e.g. {"prompt_tokens": 0.1, "completion_tokens": 0.3}).
    """

    kind: str
    hourly_usd: float | None = None
    usd_per_million_tokens: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind == "local" and (self.hourly_usd is None or self.hourly_usd < 0):
            raise ValueError("a local cost model needs a non-negative hourly_usd")
        if self.kind == "api" and (
            not self.usd_per_million_tokens or any(price < 0 for price in self.usd_per_million_tokens.values())
        ):
            raise ValueError("an api cost model needs a price table of non-negative USD per million tokens")
        if self.kind not in ("rules", "local", "api"):
            raise ValueError(f"cost kind must be rules, local or api, got {self.kind!r}")

    @classmethod
    def free(cls) -> CostModel:
        return cls("rules")

    @classmethod
    def local(cls, hourly_usd: float) -> CostModel:
        return cls("local", hourly_usd=hourly_usd)

    @classmethod
    def api(cls, usd_per_million_tokens: Mapping[str, float]) -> CostModel:
        return cls("api", usd_per_million_tokens=dict(usd_per_million_tokens))

    def total_usd(self, predictions: Sequence[Prediction]) -> float | None:
        """Dollars for these predictions; None when an API answer did not report its usage."""
        if self.kind == "rules":
            return 0.0
        if self.kind == "local":
            seconds = sum(prediction.latency_ms for prediction in predictions) / 1000
            return self.hourly_usd * seconds / 3600
        total = 0.0
        for prediction in predictions:
            for key, price in self.usd_per_million_tokens.items():
                if key not in prediction.usage:
                    return None
                total += prediction.usage[key] * price / 1_000_000
        return total


def cost_per_100_requests_usd(predictions: Sequence[Prediction], cost: CostModel | None) -> float | None:
    """Average cost of a request, times 100; None when the cost model is unknown."""
    _require_examples(len(predictions))
    if cost is None:
        return None
    total = cost.total_usd(predictions)
    return None if total is None else total / len(predictions) * 100


def loop_completion_rate(completed_cycles: int, started_cycles: int) -> float | None:
    """Completed / started cycles of a loop; None before any cycle started."""
    if started_cycles < 0 or not 0 <= completed_cycles <= started_cycles:
        raise ValueError(f"need 0 <= completed ({completed_cycles}) <= started ({started_cycles})")
    return None if started_cycles == 0 else completed_cycles / started_cycles


# -- rows in, metric dict out --------------------------------------------------------


@dataclass(frozen=True)
class ScoredExample:
    """One eval row next to one prediction, with what the metrics need from both."""

    target: Vector
    constraints: list[dict[str, str]]
    prediction: Prediction
    parsed: Vector | None  # None when the output failed the strict parse

    @property
    def valid(self) -> bool:
        return self.parsed is not None

    @property
    def predicted(self) -> Vector:
        """What error metrics score: the parsed vector, or neutral when invalid."""
        return self.parsed if self.parsed is not None else NEUTRAL

    @property
    def abs_errors(self) -> Vector:
        return absolute_errors(self.target, self.predicted)

    @property
    def intent(self) -> float:
        return intent_score(self.target, self.predicted)


def score(examples: Sequence[Mapping[str, Any]], predictions: Sequence[Prediction]) -> list[ScoredExample]:
    """Pair eval rows with predictions; constraints come from the row, else from the target."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    scored = []
    for row, prediction in zip(examples, predictions):
        target = to_vector(row["target"])
        constraints = row["constraints"] if "constraints" in row else constraints_for(target)
        scored.append(ScoredExample(target, list(constraints), prediction, parse(prediction.raw)))
    return scored


def summarize(scored: Sequence[ScoredExample], *, cost: CostModel | None = None) -> dict[str, float | None]:
    """The flat metric dict: the §6 keys, then mae_<axis> and bucket_acc_<axis>, then n_examples."""
    _require_examples(len(scored))
    targets = [example.target for example in scored]
    predicted = [example.predicted for example in scored]
    predictions = [example.prediction for example in scored]
    metrics: dict[str, float | None] = {
        "json_valid_rate": json_valid_rate([prediction.raw for prediction in predictions]),
        "vector_mae": vector_mae(targets, predicted),
        "mse_raw": mse_raw(targets, predicted),
        "mse_norm": mse_norm(targets, predicted),
        "constraint_match_rate": constraint_match_rate([example.constraints for example in scored], predicted),
        "slot_exact_match": slot_exact_match(targets, predicted),
        "intent_score_mean": intent_score_mean(targets, predicted),
        "p95_inference_latency_ms": p95_inference_latency_ms([p.latency_ms for p in predictions]),
        "cost_per_100_requests_usd": cost_per_100_requests_usd(predictions, cost),
    }
    metrics.update({f"mae_{axis}": value for axis, value in axis_mae(targets, predicted).items()})
    metrics.update({f"bucket_acc_{axis}": value for axis, value in bucket_accuracy(targets, predicted).items()})
    metrics["n_examples"] = len(scored)
    return metrics


def compute_metrics(
    examples: Sequence[Mapping[str, Any]], predictions: Sequence[Prediction], *, cost: CostModel | None = None
) -> dict[str, float | None]:
    """All §6 metrics of one predictor on one eval set (see `summarize` for the keys)."""
    return summarize(score(examples, predictions), cost=cost)
