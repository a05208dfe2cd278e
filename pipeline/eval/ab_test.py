"""A/B test of two four_class predictors on the same test set (DESIGN §3).

A is the model in service, B the candidate (usually the fine-tuned one);
every delta is B - A. Both sets of eval rows must cover the same items, so
every comparison here is paired, which is what makes a small test set
informative:

- metric deltas (accuracy, macro-F1, false-allow rate) with a paired
  percentile bootstrap: each resample draws items with replacement and scores
  A and B on the same draw, by ``four_class.confusion_scores``;
- McNemar's test on per-item correctness: b items only A got right, c items
  only B got right; exact two-sided binomial when b + c < 25, else chi-square
  with continuity correction (1 degree of freedom);
- latency p50/p95 of each (nearest rank) and the B/A ratios;
- both confusion matrices.

The result is a plain JSON-serialisable dict, ready to store as a row.

Run alone: python -m pipeline.eval.ab_test --a a.rows.jsonl --b b.rows.jsonl --out ab.json
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from pipeline.data.jsonl import read_jsonl, write_json
from pipeline.eval.metrics import percentile_nearest_rank, row_latencies_ms
from pipeline.tasks.four_class import (
    LABELS,
    confusion_chart,
    confusion_scores,
    label_indices,
    predicted_label,
    row_confusion,
)

AB_METRICS: tuple[str, ...] = ("accuracy", "macro_f1", "false_allow_rate")
DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
EXACT_BELOW = 25  # discordant pairs under which McNemar's test is the exact binomial one
_CELLS_PER_CHUNK = 2_000_000  # bootstrap draws held in memory at once (resamples x items)


def paired_rows(rows_a: Sequence[Mapping[str, Any]],
                rows_b: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    """(A row, B row) per item: matched by "id" when every row has one, else by position.

    A ValueError says what does not match: counts, ids, or gold answers.
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
        if row_a["answer"] != row_b["answer"]:
            raise ValueError(f"item {row_a.get('id', position)!r}: gold answer {row_a['answer']!r} in A "
                             f"but {row_b['answer']!r} in B; not the same test set")
    return pairs


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
        tail = sum(math.comb(discordant, k) for k in range(smaller + 1)) / 2**discordant
        return {"b": b, "c": c, "method": "exact_binomial", "statistic": float(smaller),
                "p_value": min(1.0, 2 * tail)}
    statistic = max(0, abs(b - c) - 1) ** 2 / discordant
    return {"b": b, "c": c, "method": "chi2_continuity_corrected", "statistic": statistic,
            "p_value": math.erfc(math.sqrt(statistic / 2))}


def paired_bootstrap(gold: np.ndarray, predicted_a: np.ndarray, predicted_b: np.ndarray, resamples: int,
                     seed: int) -> dict[str, np.ndarray]:
    """B - A of each ``AB_METRICS`` score on ``resamples`` paired resamples (NaN where a score is undefined)."""
    items = len(gold)
    width = len(LABELS) + 1
    cells = len(LABELS) * width
    codes_a, codes_b = gold * width + predicted_a, gold * width + predicted_b
    rng = np.random.default_rng(seed)
    deltas: dict[str, list[np.ndarray]] = {metric: [] for metric in AB_METRICS}
    chunk = max(1, _CELLS_PER_CHUNK // items)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        draws = rng.integers(0, items, size=(size, items))
        offsets = np.arange(size)[:, None] * cells
        confusions = [
            np.bincount((codes[draws] + offsets).ravel(), minlength=size * cells).reshape(size, len(LABELS), width)
            for codes in (codes_a, codes_b)
        ]
        scores_a, scores_b = (confusion_scores(confusion) for confusion in confusions)
        for metric in AB_METRICS:
            deltas[metric].append(scores_b[metric] - scores_a[metric])
    return {metric: np.concatenate(parts) for metric, parts in deltas.items()}


def _number(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else number


def _latency(rows: Sequence[Mapping[str, Any]]) -> tuple[float | None, float | None]:
    latencies = row_latencies_ms(rows)
    if not latencies:
        return None, None
    return percentile_nearest_rank(latencies, 0.5), percentile_nearest_rank(latencies, 0.95)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def ab_test(
    rows_a: Sequence[Mapping[str, Any]],
    rows_b: Sequence[Mapping[str, Any]],
    name_a: str = "A",
    name_b: str = "B",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """Compare B against A on the same eval rows ({"answer", "parsed" or "raw", "latency_ms", "id"?}).

    Returns {"predictors", "n_examples", "metrics": {name: {"a", "b", "delta", "ci_low", "ci_high",
    "resamples_defined"}}, "bootstrap", "mcnemar", "latency", "confusion": {"a", "b"}}; values that are
    undefined (e.g. false-allow rate without harmful items) are None.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    pairs = paired_rows(rows_a, rows_b)
    a_rows = [row_a for row_a, _ in pairs]
    b_rows = [row_b for _, row_b in pairs]
    gold, predicted_a = label_indices([row["answer"] for row in a_rows], [predicted_label(row) for row in a_rows])
    _, predicted_b = label_indices([row["answer"] for row in b_rows], [predicted_label(row) for row in b_rows])

    observed_a, observed_b = confusion_scores(row_confusion(a_rows)), confusion_scores(row_confusion(b_rows))
    deltas = paired_bootstrap(gold, predicted_a, predicted_b, resamples, seed)
    tail = (1 - confidence) / 2
    metrics = {}
    for metric in AB_METRICS:
        defined = deltas[metric][~np.isnan(deltas[metric])]
        low, high = np.quantile(defined, [tail, 1 - tail]) if defined.size else (np.nan, np.nan)
        value_a, value_b = _number(observed_a[metric]), _number(observed_b[metric])
        metrics[metric] = {
            "a": value_a,
            "b": value_b,
            "delta": value_b - value_a if value_a is not None and value_b is not None else None,
            "ci_low": _number(low),
            "ci_high": _number(high),
            "resamples_defined": int(defined.size),
        }

    correct_a, correct_b = predicted_a == gold, predicted_b == gold
    p50_a, p95_a = _latency(a_rows)
    p50_b, p95_b = _latency(b_rows)
    return {
        "predictors": {"a": name_a, "b": name_b},
        "n_examples": len(pairs),
        "metrics": metrics,
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": confidence},
        "mcnemar": mcnemar(int(np.sum(correct_a & ~correct_b)), int(np.sum(~correct_a & correct_b))),
        "latency": {
            "p50_ms": {"a": p50_a, "b": p50_b},
            "p95_ms": {"a": p95_a, "b": p95_b},
            "ratio_p50": _ratio(p50_b, p50_a),
            "ratio_p95": _ratio(p95_b, p95_a),
        },
        "confusion": {"a": confusion_chart(a_rows), "b": confusion_chart(b_rows)},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="eval rows JSONL of the model in service")
    parser.add_argument("--b", required=True, help="eval rows JSONL of the candidate, same test set")
    parser.add_argument("--name-a", default="A")
    parser.add_argument("--name-b", default="B")
    parser.add_argument("--resamples", type=int, default=DEFAULT_RESAMPLES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE)
    parser.add_argument("--out", help="write the result as JSON here")
    args = parser.parse_args(argv)
    try:
        result = ab_test(read_jsonl(args.a), read_jsonl(args.b), args.name_a, args.name_b, args.resamples,
                         args.seed, args.confidence)
    except ValueError as error:
        parser.error(str(error))
    if args.out:
        write_json(args.out, result)
    for metric, row in result["metrics"].items():
        print(f"{metric}: A {row['a']} B {row['b']} delta {row['delta']} "
              f"[{row['ci_low']}, {row['ci_high']}] ({result['bootstrap']['confidence']:.0%} CI)")
    test = result["mcnemar"]
    print(f"McNemar ({test['method']}): b={test['b']} c={test['c']} statistic={test['statistic']:.4g} "
          f"p={test['p_value']:.4g}")
    print(f"latency p95 ratio B/A: {result['latency']['ratio_p95']}")


if __name__ == "__main__":
    main()
