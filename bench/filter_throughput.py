"""Filtering at scale: the six-parameter task's quality filter (leaks, length, language, exact and near
duplicates) plus decontamination against a frozen set, on generated pairs, at growing sizes.

Prints, for each size, generation and filtering seconds, the filter's seconds per 10k rows and its ratio to the
smallest size's (near-linear cost keeps it near 1), and the drops by reason. Pinned to one thread (the filter is
single-threaded; numpy's pool would only blur the number). Not a test: numbers depend on the machine.

    python bench/filter_throughput.py                      # 10k, 100k, 1M mixed en/ja pairs
    python bench/filter_throughput.py --sizes 10000 100000
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.data.decontaminate import decontaminate  # noqa: E402
from pipeline.tasks.hidden_params.clean import quality_filter  # noqa: E402
from pipeline.tasks.hidden_params.generate import generate_pairs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--language", default="mixed", choices=("en", "ja", "mixed"))
    parser.add_argument("--eval-rows", type=int, default=500, help="frozen-set rows decontaminated against")
    args = parser.parse_args()

    eval_texts = [row["request_text"] for row in generate_pairs(args.eval_rows, seed=99, language=args.language)]
    baseline = None
    print(f"{'rows':>9} {'generate s':>11} {'filter s':>9} {'s per 10k':>10} {'vs first':>9}  kept  drops")
    for size in args.sizes:
        started = time.perf_counter()
        rows = generate_pairs(size, seed=1, language=args.language)
        generated = time.perf_counter() - started
        started = time.perf_counter()
        result = quality_filter(rows)
        kept, dirty = decontaminate(result.kept, eval_texts, lambda row: row["request_text"])
        filtered = time.perf_counter() - started
        per_10k = filtered / size * 10_000
        baseline = baseline or per_10k
        drops = {reason: count for reason, count in result.report.items() if count}
        drops["in_eval_set"] = len(dirty)
        print(f"{size:>9,} {generated:>11.1f} {filtered:>9.1f} {per_10k:>10.2f} {per_10k / baseline:>8.2f}x  "
              f"{len(kept):,}  {drops}", flush=True)


if __name__ == "__main__":
    main()
