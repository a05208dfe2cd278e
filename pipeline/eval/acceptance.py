"""Acceptance criteria as data (DESIGN §7), and verdicts that say why.

A criterion is a plain record so that the web app can store it as a row and
let engineers edit it; `default_criteria(task)` gives the §7 defaults. §7.2
("better than prompt_baseline on" each of the task's verdict metrics, e.g. the
flagship's vector_mae, mse_norm and intent_score_mean) becomes one row per
metric, so each comparison gets its own pass/fail and reason.

Every verdict carries a human-readable reason with the numbers. Missing data
never passes: a criterion that cannot be checked is failed and the reason says
what is missing. `passed` is None only when the caller did not supply that
context at all (no `loop` for a single evaluation, no `tracking` dict), i.e.
the criterion does not apply to what is being judged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any

from pipeline.eval import paired
from pipeline.eval.metrics import loop_completion_rate
from pipeline.tasks.registry import DEFAULT_TASK, CriterionSpec, Task, get_task

LOOP_METRIC = "loop_completion_rate"
TRACKING_METRIC = "tracking_complete"
COMPARATORS = (">=", "<=", "better_than_baseline", "all_present", "no_regression")
# The metric a no-regression criterion reads: the per-example error of the task (lower is better), paired by item.
ERROR_METRIC = "error"
DIRECTIONS = ("lower", "higher")
# The links every run must have (§7.4); online runs add their W&B URLs to the dict.
REQUIRED_TRACKING_LINKS = ("tracker_run", "dataset_artifact", "adapter_artifact", "eval_summary")


@dataclass(frozen=True)
class Criterion(CriterionSpec):
    """One acceptance rule: a task's CriterionSpec (the same fields), checked when built.

    comparator ">=" / "<=": `metric` of predictor `applies_to` (or of the loop,
    for loop_completion_rate) against `threshold`. "better_than_baseline":
    `applies_to` strictly better than `baseline` on `metric`, in `direction`,
    on the same eval set. "all_present": every tracking link is present.
    """

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise ValueError(f"criterion {self.key!r}: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        problems = []
        if not self.key or not self.metric:
            problems.append("key and metric are required")
        if self.comparator not in COMPARATORS:
            problems.append(f"comparator must be one of {', '.join(COMPARATORS)}, got {self.comparator!r}")
        if self.comparator in (">=", "<=") and self.threshold is None:
            problems.append(f"{self.comparator} needs a threshold")
        if self.comparator == "better_than_baseline":
            if not self.baseline or self.baseline == self.applies_to:
                problems.append("better_than_baseline needs a baseline other than applies_to")
            if self.direction not in DIRECTIONS:
                problems.append(f"direction must be lower or higher, got {self.direction!r}")
        if (self.comparator == "all_present") != (self.metric == TRACKING_METRIC):
            problems.append(f"all_present is the comparator of {TRACKING_METRIC}, and only of it")
        if (self.comparator == "no_regression") != (self.metric == ERROR_METRIC):
            problems.append(f"no_regression is the comparator of {ERROR_METRIC} (the per-example error), and only of it")
        if self.metric == LOOP_METRIC and self.comparator not in (">=", "<="):
            problems.append(f"{LOOP_METRIC} is compared with >= or <=")
        if self.metric not in (LOOP_METRIC, TRACKING_METRIC) and not self.applies_to:
            problems.append(f"{self.metric} needs applies_to (a predictor name)")
        if self.min_cycles < 0:
            problems.append("min_cycles must not be negative")
        return problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "required": list(self.required)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Criterion:
        """From a stored row or form; unknown keys are an error, not silently dropped."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown criterion fields: {', '.join(unknown)}")
        values = dict(data)
        if "required" in values:
            values["required"] = tuple(values["required"] or ())
        if values.get("threshold") is not None:
            values["threshold"] = float(values["threshold"])
        return cls(**values)


@dataclass(frozen=True)
class LoopStatus:
    started_cycles: int
    completed_cycles: int

    @property
    def completion_rate(self) -> float | None:
        return loop_completion_rate(self.completed_cycles, self.started_cycles)


@dataclass(frozen=True)
class Verdict:
    criterion: Criterion
    passed: bool | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"criterion": self.criterion.to_dict(), "passed": self.passed, "reason": self.reason}


def loop_and_tracking_criteria() -> list[Criterion]:
    """§7.3 and §7.4: the criteria every task type shares."""
    return [
        Criterion(
            key="loop_completion",
            metric=LOOP_METRIC,
            comparator=">=",
            threshold=1.0,
            min_cycles=2,
            description="§7.3: every started cycle of the loop completed, over at least 2 cycles",
        ),
        Criterion(
            key="tracking_complete",
            metric=TRACKING_METRIC,
            comparator="all_present",
            required=REQUIRED_TRACKING_LINKS,
            description="§7.4: the run links its tracker run, dataset and adapter artifacts and eval summary",
        ),
    ]


def task_criteria(task: Task) -> list[Criterion]:
    """The task's own defaults (`Task.default_criteria`: valid output, beating the prompt baseline)."""
    return [Criterion(**{**asdict(spec), "required": tuple(spec.required)}) for spec in task.default_criteria()]


def default_criteria(task: Task | None = None) -> list[Criterion]:
    """The defaults of DESIGN §7 for `task` (the default task type when None), one row per checked number."""
    return [*task_criteria(task or get_task(DEFAULT_TASK)), *loop_and_tracking_criteria()]


def _number(value: float) -> str:
    return f"{value:.4g}"


def _predictor_metric(
    metrics_by_predictor: Mapping[str, Mapping[str, float | None]], predictor: str, metric: str
) -> tuple[float | None, str]:
    """(value, "") or (None, what is missing)."""
    if predictor not in metrics_by_predictor:
        return None, f"no metrics for {predictor}"
    value = metrics_by_predictor[predictor].get(metric)
    if value is None:
        return None, f"{predictor} has no {metric} value"
    return float(value), ""


def _compare(value: float, comparator: str, threshold: float) -> bool:
    return value >= threshold if comparator == ">=" else value <= threshold


def _threshold_verdict(criterion: Criterion, subject: str, value: float, suffix: str = "") -> Verdict:
    passed = _compare(value, criterion.comparator, criterion.threshold)
    if passed:
        relation = "≥" if criterion.comparator == ">=" else "≤"
    else:
        relation = "<" if criterion.comparator == ">=" else ">"
    reason = f"{subject} {_number(value)}{suffix} {relation} {_number(criterion.threshold)}"
    if not passed:
        reason += f" (needs {criterion.comparator} {_number(criterion.threshold)})"
    return Verdict(criterion, passed, reason)


def _check_threshold(criterion: Criterion, metrics_by_predictor: Mapping[str, Mapping[str, float | None]]) -> Verdict:
    value, missing = _predictor_metric(metrics_by_predictor, criterion.applies_to, criterion.metric)
    if value is None:
        return Verdict(criterion, False, missing)
    return _threshold_verdict(criterion, f"{criterion.applies_to} {criterion.metric}", value)


def _check_better(
    criterion: Criterion,
    metrics_by_predictor: Mapping[str, Mapping[str, float | None]],
    eval_set_hashes: Mapping[str, str | None],
) -> Verdict:
    candidate, baseline, metric = criterion.applies_to, criterion.baseline, criterion.metric
    lookups = [_predictor_metric(metrics_by_predictor, name, metric) for name in (candidate, baseline)]
    missing = [text for _, text in lookups if text]
    missing += [f"no eval-set hash for {name}" for name in (candidate, baseline) if not eval_set_hashes.get(name)]
    if missing:
        return Verdict(criterion, False, "; ".join(missing))
    candidate_hash, baseline_hash = eval_set_hashes[candidate], eval_set_hashes[baseline]
    if candidate_hash != baseline_hash:
        return Verdict(
            criterion,
            False,
            f"{candidate} and {baseline} were evaluated on different eval sets "
            f"({candidate_hash[:12]} vs {baseline_hash[:12]}); the comparison needs the same frozen set",
        )
    ours = float(metrics_by_predictor[candidate][metric])
    theirs = float(metrics_by_predictor[baseline][metric])
    lower = criterion.direction == "lower"
    passed = ours < theirs if lower else ours > theirs
    if passed:
        relation = "<" if lower else ">"
    else:
        relation = "is not below" if lower else "is not above"
    reason = (
        f"{candidate} {metric} {_number(ours)} {relation} {baseline} {_number(theirs)} "
        f"({criterion.direction} is better) on eval set {candidate_hash[:12]}"
    )
    return Verdict(criterion, passed, reason)


def _check_loop(criterion: Criterion, loop: LoopStatus | None) -> Verdict:
    if loop is None:
        return Verdict(criterion, None, "not a loop: no cycles to judge")
    if loop.started_cycles < criterion.min_cycles:
        return Verdict(
            criterion,
            False,
            f"{loop.started_cycles} cycle(s) started; needs at least {criterion.min_cycles}",
        )
    rate = loop.completion_rate
    if rate is None:
        return Verdict(criterion, False, "no cycle has started")
    suffix = f" ({loop.completed_cycles}/{loop.started_cycles} cycles)"
    return _threshold_verdict(criterion, LOOP_METRIC, rate, suffix)


def _check_tracking(criterion: Criterion, tracking: Mapping[str, str | None] | None) -> Verdict:
    if tracking is None:
        return Verdict(criterion, None, "no tracking links were given to check")
    names = list(dict.fromkeys([*criterion.required, *tracking]))
    missing = [name for name in names if not tracking.get(name)]
    if missing:
        return Verdict(criterion, False, f"missing tracking links: {', '.join(missing)}")
    return Verdict(criterion, True, f"all {len(names)} tracking links present: {', '.join(names)}")


def evaluate_criteria(
    criteria: Sequence[Criterion],
    metrics_by_predictor: Mapping[str, Mapping[str, float | None]],
    *,
    eval_set_hashes: Mapping[str, str | None],
    loop: LoopStatus | None = None,
    tracking: Mapping[str, str | None] | None = None,
) -> list[Verdict]:
    """One Verdict per criterion, in order, but for no_regression criteria: they compare two cycles' eval rows
    (`check_no_regression`), which the caller holds.

    `metrics_by_predictor` maps a predictor name to its metric dict (from
    `compute_metrics`), `eval_set_hashes` the same names to the eval set each
    was scored on; `tracking` maps link names to URLs or paths (empty = missing).
    """
    verdicts = []
    for criterion in criteria:
        if criterion.metric == LOOP_METRIC:
            verdicts.append(_check_loop(criterion, loop))
        elif criterion.metric == TRACKING_METRIC:
            verdicts.append(_check_tracking(criterion, tracking))
        elif criterion.comparator == "no_regression":
            continue
        elif criterion.comparator == "better_than_baseline":
            verdicts.append(_check_better(criterion, metrics_by_predictor, eval_set_hashes))
        else:
            verdicts.append(_check_threshold(criterion, metrics_by_predictor))
    return verdicts


def check_no_regression(criterion: Criterion, previous: Sequence[Mapping[str, Any]] | None,
                        current: Sequence[Mapping[str, Any]] | None, answer_key: str, *, resamples: int = 2000,
                        confidence: float = 0.95, seed: int = 0) -> Verdict:
    """DESIGN §7.6: `applies_to` of this cycle against the previous cycle's, on the same items (paired eval rows):
    it fails when the paired bootstrap interval of the mean per-example error difference (this - previous) lies
    wholly above the tolerance (`threshold`, in the task's error units); n/a without a previous cycle."""
    if previous is None:
        return Verdict(criterion, None, "no previous cycle to compare with")
    if not current:
        return Verdict(criterion, False, f"no {criterion.applies_to} evaluation in this cycle")
    pairs = paired.paired_rows(previous, current, answer_key)
    errors_before = [float(before[ERROR_METRIC]) for before, _ in pairs]
    errors_now = [float(now[ERROR_METRIC]) for _, now in pairs]
    deltas = paired.paired_bootstrap(lambda rows: {}, [b for b, _ in pairs], [n for _, n in pairs], resamples, seed,
                                     keys=[], errors=(errors_before, errors_now))[paired.ERROR_KEY]
    low, high, _ = paired.interval(deltas, confidence)
    delta = sum(errors_now) / len(errors_now) - sum(errors_before) / len(errors_before)
    tolerance = criterion.threshold or 0.0
    passed = low is None or low <= tolerance
    shown = f"error {_number(delta)} (this - previous), {round(confidence * 100)}% CI [{_number(low)}, " \
            f"{_number(high)}]" if low is not None else f"error {_number(delta)} (this - previous)"
    relation = "within" if passed else "beyond"
    return Verdict(criterion, passed, f"{criterion.applies_to}: {shown}, {relation} the tolerance {_number(tolerance)}"
                                      f" on {len(pairs)} paired items")


def overall(verdicts: Sequence[Verdict]) -> bool | None:
    """The badge of a run: failed if any criterion failed, None if none applied, passed otherwise."""
    outcomes = [verdict.passed for verdict in verdicts if verdict.passed is not None]
    if not outcomes:
        return None
    return all(outcomes)
