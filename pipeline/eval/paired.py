"""Paired statistics of two predictors evaluated on the same items, for any task.

Both predictors answered the same items, so every comparison is paired, which
is what makes a small test set informative:

- ``paired_rows``: the (A row, B row) of each item, by "id" or position, with
  the same gold answer;
- ``paired_bootstrap``: B - A of any metric the task computes from eval rows
  (``task.metrics``), and of the mean per-example ``error``, on resamples that
  draw items with replacement and score A and B on the same draw;
- ``paired_test`` on the per-example errors: McNemar's test when they are 0/1
  (right/wrong; exact binomial below 25 discordant items), else Wilcoxon's
  signed-rank test (scipy, when installed) or the exact sign test;
- ``latency``: p50/p95 of each (nearest rank) and the B/A ratios.

No task is named here: what a metric is, and which way it improves, is the
task's (``pipeline.tasks.registry.Task``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.eval.metrics import percentile_nearest_rank, row_latencies_ms

Row = Mapping[str, Any]
MetricsFunction = Callable[[Sequence[Row]], Mapping[str, float | None]]

EXACT_BELOW = 25  # discordant pairs under which McNemar's test is the exact binomial one
ERROR_KEY = "error"
_CELLS_PER_CHUNK = 2_000_000  # bootstrap draws held in memory at once (resamples x items)


def paired_rows(rows_a: Sequence[Row], rows_b: Sequence[Row], answer_key: str) -> list[tuple[Row, Row]]:
    """(A row, B row) per item: matched by "id" when every row has one, else by position.

    A ValueError says what does not match: counts, ids, or gold answers (``row[answer_key]``).
    """
    if not rows_a or not rows_b:
        raise ValueError("both predictors need eval rows")
    if all("id" in row for row in (*rows_a, *rows_b)):
        by_id = {row["id"]: row for row in rows_b}
        if len(by_id) != len(rows_b) or len({row["id"] for row in rows_a}) != len(rows_a):
            raise ValueError("eval row ids repeat; each item must appear once per predictor")
        missing = [row["id"] for row in rows_a if row["id"] not in by_id]
        if missing or len(rows_a) != len(rows_b):
            extra = sorted(set(by_id) - {row["id"] for row in rows_a}, key=str)
            raise ValueError(f"A and B were not evaluated on the same items: only in A {missing[:5]}, "
                             f"only in B {extra[:5]}")
        pairs = [(row, by_id[row["id"]]) for row in rows_a]
    elif len(rows_a) == len(rows_b):
        pairs = list(zip(rows_a, rows_b))
    else:
        raise ValueError(f"A has {len(rows_a)} eval rows and B {len(rows_b)}; they must cover the same items")
    for position, (row_a, row_b) in enumerate(pairs):
        if row_a[answer_key] != row_b[answer_key]:
            raise ValueError(f"item {row_a.get('id', position)!r}: gold answer {row_a[answer_key]!r} in A "
                             f"but {row_b[answer_key]!r} in B; not the same test set")
    return pairs


def _binomial_two_sided(smaller: int, trials: int) -> float:
    """min(1, 2 P(X <= smaller)) for X ~ Bin(trials, 1/2)."""
    if trials == 0:
        return 1.0
    tail = sum(math.comb(trials, k) for k in range(smaller + 1)) / 2**trials
    return min(1.0, 2 * tail)


def mcnemar(b: int, c: int, exact_below: int = EXACT_BELOW) -> dict[str, Any]:
    """McNemar's test of b (only A right) against c (only B right); two-sided.

    With fewer than ``exact_below`` discordant pairs: exact binomial,
    p = min(1, 2 P(X <= min(b, c))) for X ~ Bin(b + c, 1/2), statistic min(b, c).
    Otherwise chi-square with continuity correction, (max(0, |b - c| - 1))^2 / (b + c),
    against 1 degree of freedom (its survival function is erfc(sqrt(x / 2))).
    """
    if b < 0 or c < 0:
        raise ValueError(f"b and c are counts, got {b} and {c}")
    discordant = b + c
    if discordant < exact_below:
        smaller = min(b, c)
        return {"b": b, "c": c, "method": "exact_binomial", "statistic": float(smaller),
                "p_value": _binomial_two_sided(smaller, discordant)}
    statistic = max(0, abs(b - c) - 1) ** 2 / discordant
    return {"b": b, "c": c, "method": "chi2_continuity_corrected", "statistic": statistic,
            "p_value": math.erfc(math.sqrt(statistic / 2))}


def sign_test(differences: Sequence[float]) -> dict[str, Any]:
    """The exact two-sided sign test of paired differences (B - A); ties (0) are dropped.

    ``positive`` counts items where B's value is higher; p = min(1, 2 P(X <= min(positive, negative)))
    for X ~ Bin(positive + negative, 1/2).
    """
    positive = sum(1 for d in differences if d > 0)
    negative = sum(1 for d in differences if d < 0)
    smaller = min(positive, negative)
    return {"method": "sign_test_exact", "positive": positive, "negative": negative,
            "ties": len(differences) - positive - negative, "statistic": float(smaller),
            "p_value": _binomial_two_sided(smaller, positive + negative)}


def wilcoxon(differences: Sequence[float]) -> dict[str, Any] | None:
    """Wilcoxon's signed-rank test of paired differences (B - A, zeros dropped), two-sided; None without scipy
    or without a non-zero difference."""
    try:
        from scipy.stats import wilcoxon as scipy_wilcoxon
    except ImportError:
        return None
    nonzero = [d for d in differences if d != 0]
    if not nonzero:
        return None
    result = scipy_wilcoxon(nonzero, zero_method="wilcox", alternative="two-sided")
    return {"method": "wilcoxon_signed_rank", "n": len(nonzero), "statistic": float(result.statistic),
            "p_value": float(result.pvalue)}


def is_binary(errors: Sequence[float]) -> bool:
    return all(error in (0, 1) for error in errors)


def paired_test(errors_a: Sequence[float], errors_b: Sequence[float]) -> dict[str, Any]:
    """The test of per-example errors (lower is better): McNemar when every error is 0 or 1 (b: only A right,
    c: only B right), else Wilcoxon's signed-rank test where scipy is installed, the exact sign test otherwise."""
    if len(errors_a) != len(errors_b):
        raise ValueError(f"{len(errors_a)} errors for A but {len(errors_b)} for B")
    if is_binary(errors_a) and is_binary(errors_b):
        b = sum(1 for a, b_ in zip(errors_a, errors_b) if a == 0 and b_ == 1)
        c = sum(1 for a, b_ in zip(errors_a, errors_b) if a == 1 and b_ == 0)
        return mcnemar(b, c)
    differences = [b - a for a, b in zip(errors_a, errors_b)]
    return wilcoxon(differences) or sign_test(differences)


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def paired_bootstrap(
    metrics: MetricsFunction,
    rows_a: Sequence[Row],
    rows_b: Sequence[Row],
    resamples: int,
    seed: int,
    keys: Sequence[str] | None = None,
    errors: tuple[Sequence[float], Sequence[float]] | None = None,
) -> dict[str, np.ndarray]:
    """B - A of each metric ``keys`` (default: every numeric one ``metrics`` gives the full set) on ``resamples``
    paired resamples, NaN where a metric is undefined on a resample; with ``errors`` (A's and B's per-example
    errors) also the mean error's, under ``ERROR_KEY``.

    Each resample draws the items with replacement (numpy's default_rng(seed)) and scores A and B on the same
    draw with ``metrics``, the task's own aggregate.
    """
    items = len(rows_a)
    if items != len(rows_b) or items == 0:
        raise ValueError(f"paired rows needed, got {len(rows_a)} and {len(rows_b)}")
    if keys is None:
        full = metrics(rows_a)
        keys = [key for key, value in full.items() if isinstance(value, (int, float))]
    deltas = {key: np.empty(resamples) for key in keys}
    per_item = np.asarray(errors[1], dtype=float) - np.asarray(errors[0], dtype=float) if errors else None
    if per_item is not None:
        deltas[ERROR_KEY] = np.empty(resamples)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CELLS_PER_CHUNK // items)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = rng.integers(0, items, size=(size, items))
        for offset, draw in enumerate(draws):
            scores_a = metrics([rows_a[index] for index in draw])
            scores_b = metrics([rows_b[index] for index in draw])
            for key in keys:
                deltas[key][start + offset] = _number(scores_b.get(key)) - _number(scores_a.get(key))
        if per_item is not None:
            deltas[ERROR_KEY][start : start + size] = per_item[draws].mean(axis=1)
    return deltas


def interval(deltas: np.ndarray, confidence: float) -> tuple[float | None, float | None, int]:
    """(low, high, resamples where defined) of the percentile interval; None where no resample is defined."""
    defined = deltas[~np.isnan(deltas)]
    if not defined.size:
        return None, None, 0
    tail = (1 - confidence) / 2
    low, high = np.quantile(defined, [tail, 1 - tail])
    return float(low), float(high), int(defined.size)


def latency(rows_a: Sequence[Row], rows_b: Sequence[Row]) -> dict[str, Any]:
    """p50/p95 (nearest rank) of each side's "latency_ms" and the B/A ratios; None where rows carry none."""
    p50_a, p95_a = _percentiles(rows_a)
    p50_b, p95_b = _percentiles(rows_b)
    return {
        "p50_ms": {"a": p50_a, "b": p50_b},
        "p95_ms": {"a": p95_a, "b": p95_b},
        "ratio_p50": _ratio(p50_b, p50_a),
        "ratio_p95": _ratio(p95_b, p95_a),
    }


def _percentiles(rows: Sequence[Row]) -> tuple[float | None, float | None]:
    latencies = row_latencies_ms(rows)
    if not latencies:
        return None, None
    return percentile_nearest_rank(latencies, 0.5), percentile_nearest_rank(latencies, 0.95)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None
