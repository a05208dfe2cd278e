"""The metrics of DESIGN §6 for the six-parameter task, as pure functions over vectors.

Every error metric scores an invalid output as the neutral vector (all 50):
a model that refuses to answer must not look better than one that guesses,
and the game itself falls back to neutral when it cannot read the JSON.

The building blocks take plain vectors (six ints in canonical axis order) so
that they can be checked by hand; `HiddenParamsTask.metrics` puts them together
into the flat metric dict. Latency and cost are every task's, so they live in
`pipeline.eval.metrics`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks.hidden_params.schema import AXES, HIGH_SATISFIED_AT, LOW_SATISFIED_AT, NEUTRAL, parse, to_vector

Vector = tuple[int, ...]

# Bucket edges of slot_exact_match: [0,20), [20,40), [40,60), [60,80), [80,100].
BUCKET_WIDTH = 20
BUCKET_COUNT = 5

# directional_accuracy is reported per language too (the task's languages).
DIRECTIONAL_LANGUAGES = ("en", "ja")

# (metric, higher is better), in display order: DESIGN §6's table, then the per-axis breakdowns.
METRICS: tuple[tuple[str, bool], ...] = (
    ("json_valid_rate", True),
    ("vector_mae", False),
    ("mse_raw", False),
    ("mse_norm", False),
    ("constraint_match_rate", True),
    ("slot_exact_match", True),
    ("intent_score_mean", True),
    *((f"mae_{axis}", False) for axis in AXES),
    *((f"bucket_acc_{axis}", True) for axis in AXES),
    # Real-language field sets label only the directions a request implies; this is the metric they are read by.
    ("directional_accuracy", True),
    *((f"directional_accuracy/{language}", True) for language in DIRECTIONAL_LANGUAGES),
)


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


# -- eval rows in, metric dict out -----------------------------------------------------


def directional_accuracy(rows: Sequence[Mapping[str, Any]]) -> float | None:
    """Share of constraints met, pooled over every row (with a six-value target or only directions).

    The rule of constraint_match_rate: a "high" constraint holds at pred >= 55, a "low" one at pred <= 45, and an
    unreadable output counts as the neutral vector (which meets none). None when no row carries a constraint.
    """
    if not rows:
        return None
    return constraint_match_rate([row["constraints"] for row in rows], [_predicted(row) for row in rows])


def _predicted(row: Mapping[str, Any]) -> Vector:
    return to_vector(row["parsed"]) if row["parsed"] else NEUTRAL


def row_metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """The flat metric dict (keys of `METRICS`, in order) of scored eval rows ("target", "parsed", "valid",
    "constraints"): invalid outputs count as the neutral vector.

    A row may have no six-value target ("target" None: a real request labelled only with the directions it
    implies, e.g. the dev set). The target-based metrics (vector_mae ... bucket_acc_*, and constraint_match_rate)
    are computed over the rows that have a target, None when none does; json_valid_rate and the
    directional_accuracy metrics over every row (directional_accuracy/<language>: the rows of that language,
    None when they carry no constraint).
    """
    _require_examples(len(rows))
    scored = [row for row in rows if row.get("target") is not None]
    values: dict[str, float | None] = dict.fromkeys(key for key, _ in METRICS)
    values["json_valid_rate"] = sum(1 for row in rows if row["valid"]) / len(rows)
    if scored:
        targets = [to_vector(row["target"]) for row in scored]
        predicted = [_predicted(row) for row in scored]
        values.update({
            "vector_mae": vector_mae(targets, predicted),
            "mse_raw": mse_raw(targets, predicted),
            "mse_norm": mse_norm(targets, predicted),
            "constraint_match_rate": constraint_match_rate([row["constraints"] for row in scored], predicted),
            "slot_exact_match": slot_exact_match(targets, predicted),
            "intent_score_mean": intent_score_mean(targets, predicted),
        })
        values.update({f"mae_{axis}": value for axis, value in axis_mae(targets, predicted).items()})
        values.update({f"bucket_acc_{axis}": value for axis, value in bucket_accuracy(targets, predicted).items()})
    values["directional_accuracy"] = directional_accuracy(rows)
    for language in DIRECTIONAL_LANGUAGES:
        values[f"directional_accuracy/{language}"] = directional_accuracy(
            [row for row in rows if row.get("language") == language])
    return values
