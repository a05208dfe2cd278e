"""A/B test of two predictors of any task on the same test set (DESIGN §3).

A is the model in service, B the candidate (usually the fine-tuned one);
every delta is B - A. Built on ``pipeline.eval.paired``:

- every metric of the task (``task.metrics``, its direction from
  ``task.higher_is_better``) for A and B, the delta, and a paired percentile
  bootstrap interval of the delta; the same for the mean per-example error;
- the paired test of the per-example errors: McNemar's when they are 0/1
  (right or wrong), else Wilcoxon's signed-rank test or the exact sign test;
- latency p50/p95 of each (nearest rank) and the B/A ratios;
- both sides' chart data (``task.charts``, e.g. four_class's confusion matrices).

The result is a plain JSON-serialisable dict, ready to store as a row.

Run alone: python -m pipeline.eval.ab_test --task four_class --a a.rows.jsonl --b b.rows.jsonl --out ab.json
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.data.jsonl import read_jsonl, write_json
from pipeline.eval import paired
from pipeline.eval.metrics import RUNNER_METRICS
from pipeline.tasks.registry import DEFAULT_TASK, Task, get_task, task_names

DEFAULT_RESAMPLES = 2000
DEFAULT_CONFIDENCE = 0.95
# The name the pages show for each method pipeline.eval.paired.paired_test may choose.
TEST_NAMES = {"exact_binomial": "mcnemar", "chi2_continuity_corrected": "mcnemar", "wilcoxon_signed_rank": "wilcoxon",
              "sign_test_exact": "sign"}


def scored_rows(task: Task, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Eval rows with the task's verdict: as the runner stored them, or scored again from "raw" when they lack
    an "error" (rows written by hand or by an older runner)."""
    return [dict(row) if paired.ERROR_KEY in row else {**row, **task.score_row(row, row.get("raw", ""))}
            for row in rows]


def _value(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def ab_test(
    task: Task,
    rows_a: Sequence[Mapping[str, Any]],
    rows_b: Sequence[Mapping[str, Any]],
    name_a: str = "A",
    name_b: str = "B",
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = DEFAULT_CONFIDENCE,
) -> dict[str, Any]:
    """Compare B against A on the same eval rows of ``task`` (as ``pipeline.eval.runner.evaluate`` writes them).

    Returns {"task", "predictors", "n_examples", "metrics": {name: {"a", "b", "delta", "ci_low", "ci_high",
    "resamples_defined", "higher_is_better"}}, "error": (the same for the mean per-example error), "bootstrap",
    "test" (the paired test of the per-example errors: {"name": "mcnemar" | "wilcoxon" | "sign", "method", "p_value",
    ...}), "latency", "charts": {"a", "b"}};
    values that are undefined (e.g. four_class's false-allow rate without harmful items) are None.
    """
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    pairs = paired.paired_rows(rows_a, rows_b, task.answer_key)
    a_rows = scored_rows(task, [row_a for row_a, _ in pairs])
    b_rows = scored_rows(task, [row_b for _, row_b in pairs])
    errors_a = [float(row[paired.ERROR_KEY]) for row in a_rows]
    errors_b = [float(row[paired.ERROR_KEY]) for row in b_rows]

    observed_a, observed_b = task.metrics(a_rows), task.metrics(b_rows)
    keys = [key for key in task.higher_is_better if key not in RUNNER_METRICS and key in observed_a]
    deltas = paired.paired_bootstrap(task.metrics, a_rows, b_rows, resamples, seed, keys, (errors_a, errors_b))

    def comparison(value_a: Any, value_b: Any, key: str, higher_is_better: bool) -> dict[str, Any]:
        value_a, value_b = _value(value_a), _value(value_b)
        low, high, defined = paired.interval(deltas[key], confidence)
        return {"a": value_a, "b": value_b,
                "delta": value_b - value_a if value_a is not None and value_b is not None else None,
                "ci_low": low, "ci_high": high, "resamples_defined": defined, "higher_is_better": higher_is_better}

    metrics = {key: comparison(observed_a[key], observed_b[key], key, task.higher_is_better[key]) for key in keys}
    test = paired.paired_test(errors_a, errors_b)
    test = {"name": TEST_NAMES[test["method"]], **test}
    return {
        "task": task.name,
        "predictors": {"a": name_a, "b": name_b},
        "n_examples": len(pairs),
        "metrics": metrics,
        "error": comparison(sum(errors_a) / len(errors_a), sum(errors_b) / len(errors_b), paired.ERROR_KEY, False),
        "bootstrap": {"resamples": resamples, "seed": seed, "confidence": confidence},
        "test": test,
        "latency": paired.latency(a_rows, b_rows),
        "charts": {"a": task.charts(a_rows), "b": task.charts(b_rows)},
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK, help="task type (default: %(default)s)")
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
        result = ab_test(get_task(args.task), read_jsonl(args.a), read_jsonl(args.b), args.name_a, args.name_b,
                         args.resamples, args.seed, args.confidence)
    except ValueError as error:
        parser.error(str(error))
    if args.out:
        write_json(args.out, result)
    for metric, row in {**result["metrics"], "error": result["error"]}.items():
        print(f"{metric}: A {row['a']} B {row['b']} delta {row['delta']} "
              f"[{row['ci_low']}, {row['ci_high']}] ({result['bootstrap']['confidence']:.0%} CI)")
    test = result["test"]
    if test["name"] == "mcnemar":
        print(f"McNemar ({test['method']}): b={test['b']} c={test['c']} statistic={test['statistic']:.4g} "
              f"p={test['p_value']:.4g}")
    else:
        print(f"paired test ({test['method']}): statistic={test['statistic']:.4g} p={test['p_value']:.4g}")
    print(f"latency p95 ratio B/A: {result['latency']['ratio_p95']}")


if __name__ == "__main__":
    main()
