"""The metrics every task shares, as pure functions: latency, cost, loop completion, and each metric's direction.

A task's own metrics (accuracy, the six-parameter errors...) live in its
package and come out of ``task.metrics``; the runner (``pipeline.eval.runner``)
adds the ones measured here around any predictor, so the dashboard and the
terminal always agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.tasks.predictors import Prediction
from pipeline.tasks.registry import Task, all_tasks

P95 = 0.95

# The metrics the runner measures around every predictor, after the task's own; all lower is better.
# truncated_rate: the share of requests a predictor cut to fit its input length (absent where it cannot say).
RUNNER_METRICS: tuple[str, ...] = ("p95_inference_latency_ms", "cost_per_100_requests_usd", "truncated_rate")
COUNT_KEY = "n_examples"


def metric_keys(task: Task) -> list[str]:
    """Every metric of an evaluation of `task`, in display order: the task's, then the runner's."""
    return [*task.higher_is_better, *RUNNER_METRICS]


def lower_is_better(key: str, task: Task | None = None) -> bool:
    """Which way a metric improves, for chart arrows and comparisons: as its task declares it.

    Without a task, the first registered task declaring the key says (every
    task that shares a name, e.g. accuracy, means the same direction by it).
    """
    if key in RUNNER_METRICS:
        return True
    for candidate in [task] if task is not None else all_tasks():
        if key in candidate.higher_is_better:
            return not candidate.higher_is_better[key]
    return False


def ordered_metric_keys(present: Iterable[str], task: Task | None = None) -> list[str]:
    """`present` keys in display order: the task's (every registered task's, without one), the runner's, then
    the rest sorted."""
    present = set(present)
    known: list[str] = []
    for candidate in [task] if task is not None else all_tasks():
        known += [key for key in candidate.higher_is_better if key not in known]
    known += [key for key in (*RUNNER_METRICS, COUNT_KEY) if key not in known]
    return [key for key in known if key in present] + sorted(present - set(known))


def _require_examples(count: int) -> None:
    if count == 0:
        raise ValueError("metrics need at least one example")


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


def truncated_rate(predictions: Sequence[Prediction]) -> float | None:
    """The share of requests the predictor cut to fit its input length (``usage["truncated"]``); None when no
    prediction says (a predictor that does not count, e.g. the rules, which read everything)."""
    _require_examples(len(predictions))
    flags = [p.usage.get("truncated") for p in predictions if isinstance(p.usage, Mapping)]
    counted = [flag for flag in flags if flag is not None]
    if not counted:
        return None
    return sum(bool(flag) for flag in counted) / len(counted)


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
