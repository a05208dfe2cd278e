"""Is an export the model it was exported from? Both evaluated on the same frozen rows, their headlines compared.

DESIGN §3b: an export is checked against the PyTorch model on the frozen set
before it is offered. "The same" means the task's headline metric (vector_mae
for the six values, macro F1 or accuracy for a classifier) within a tolerance
in either direction, and the same share of valid answers: quantisation may move
a value by a point, never break an answer. The share of rows where both wrote
the very same answer, and for numeric answers how far apart their values are on
average (``value_drift``), are reported beside, to read, not to judge by.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.eval.runner import EvalResult, LogCallback, evaluate
from pipeline.tasks.predictors import Predictor
from pipeline.tasks.registry import Task

VALID_RATE_KEY = "json_valid_rate"


@dataclass(frozen=True)
class Parity:
    """What the check found: both predictors' metrics, the headline's difference and the verdict with its reason."""

    metric: str  # the task's headline metric
    higher_is_better: bool
    tolerance: float  # how far the candidate's headline may be from the reference's, either way
    reference: dict[str, float | None]
    candidate: dict[str, float | None]
    delta: float | None  # candidate - reference; None when either has no headline value
    json_valid_rate_equal: bool
    agreement: float  # share of rows where both wrote the very same raw answer
    passed: bool
    reason: str
    value_drift: float | None = None  # mean |candidate - reference| over the answers' numeric fields; None: labels


def check_parity(task: Task, reference: Predictor, candidate: Predictor, rows: Sequence[Mapping[str, Any]], *,
                 max_mae_delta: float = 0.5, max_score_delta: float = 0.05,
                 on_log: LogCallback | None = None) -> Parity:
    """`candidate` (an export) against `reference` (the model it came from) on the same rows, by ``evaluate``.

    The tolerance is ``max_mae_delta`` for a headline that is an error (lower is
    better: vector_mae, in the answer's own units) and ``max_score_delta`` for a
    score (higher is better: accuracy, macro F1, 0 .. 1). A negative tolerance
    never passes.
    """
    return compare_results(task, evaluate(task, reference, rows, on_log=on_log),
                           evaluate(task, candidate, rows, on_log=on_log), max_mae_delta=max_mae_delta,
                           max_score_delta=max_score_delta, names=(reference.name, candidate.name))


def compare_results(task: Task, reference: EvalResult, candidate: EvalResult, *, max_mae_delta: float = 0.5,
                    max_score_delta: float = 0.05, names: tuple[str, str] = ("reference", "candidate")) -> Parity:
    """The verdict of ``check_parity`` on two evaluations of the same rows (e.g. a benchmark's, made interleaved)."""
    if len(reference.rows) != len(candidate.rows):
        raise ValueError(f"{names[0]} was evaluated on {len(reference.rows)} rows, {names[1]} on "
                         f"{len(candidate.rows)}: parity compares the same rows")
    metric = task.headline_metric
    higher_is_better = bool(task.higher_is_better[metric])
    tolerance = max_score_delta if higher_is_better else max_mae_delta
    before, after = reference.metrics.get(metric), candidate.metrics.get(metric)
    valid_before, valid_after = reference.metrics.get(VALID_RATE_KEY), candidate.metrics.get(VALID_RATE_KEY)
    valid_equal = valid_before == valid_after
    agreement = sum(ours["raw"] == theirs["raw"] for ours, theirs in zip(reference.rows, candidate.rows))
    if before is None or after is None:
        delta, passed = None, False
        reason = f"no {metric} for {names[0] if before is None else names[1]}: nothing to compare"
    else:
        delta = after - before
        within = abs(delta) <= tolerance
        passed = within and valid_equal
        reason = (f"{metric} {after:.3f} vs {before:.3f} ({delta:+.3f}, {'within' if within else 'beyond'} "
                  f"the tolerance {tolerance:g})")
        if VALID_RATE_KEY in reference.metrics or VALID_RATE_KEY in candidate.metrics:
            reason += (f"; {VALID_RATE_KEY} {_show(valid_after)} vs {_show(valid_before)}"
                       f"{'' if valid_equal else ' (differs)'}")
    reason += f"; same answer on {agreement} of {len(reference.rows)} rows"
    drift = value_drift(task, [row["raw"] for row in reference.rows], [row["raw"] for row in candidate.rows])
    if drift is not None:
        reason += f", values {drift:.2f} apart on average"
    return Parity(metric=metric, higher_is_better=higher_is_better, tolerance=tolerance,
                  reference=dict(reference.metrics), candidate=dict(candidate.metrics), delta=delta,
                  json_valid_rate_equal=valid_equal, agreement=agreement / max(len(reference.rows), 1),
                  passed=passed, reason=reason, value_drift=drift)


def value_drift(task: Task, reference: Sequence[str], candidate: Sequence[str]) -> float | None:
    """Mean |candidate - reference| over the numeric fields of two sets of raw answers (e.g. the six values: what
    int8 moves even when vector_mae holds); None where the answers have no numeric field (labels)."""
    differences = []
    for ours, theirs in zip(reference, candidate):
        before, after = task.parse(ours), task.parse(theirs)
        if isinstance(before, Mapping) and isinstance(after, Mapping):
            differences += [abs(after[key] - value) for key, value in before.items()
                            if _is_number(value) and _is_number(after.get(key))]
    return sum(differences) / len(differences) if differences else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _show(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
