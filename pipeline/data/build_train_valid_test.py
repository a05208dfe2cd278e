"""Stage 3 (split): seeded 80/10/10 train/valid/test, exports, and ft_split_stats.json.

Run alone: python -m pipeline.data.build_train_valid_test --in kept.jsonl --out-dir splits/
"""

from __future__ import annotations

import argparse
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.data.export import write_exports
from pipeline.data.jsonl import read_json, read_jsonl, write_json, write_jsonl
from pipeline.tasks.hidden_params import AXES

SPLITS = ("train", "valid", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)
STATS_FILE = "ft_split_stats.json"
HISTOGRAM_BINS = 10


# Rows written by these sources always train: designer corrections must reach the
# next model, and must never leak into an eval set.
TRAIN_ONLY_SOURCES = ("correction",)


def split_rows(
    rows: Sequence[dict[str, Any]], seed: int, ratios: Sequence[float] = DEFAULT_RATIOS
) -> dict[str, list[dict[str, Any]]]:
    """Shuffle with `seed`, then cut; test takes the remainder so no row is lost."""
    if len(ratios) != 3 or any(r < 0 for r in ratios) or abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"ratios must be three non-negative numbers summing to 1, got {list(ratios)}")
    pinned = [row for row in rows if row.get("teacher") in TRAIN_ONLY_SOURCES]
    shuffled = [row for row in rows if row.get("teacher") not in TRAIN_ONLY_SOURCES]
    random.Random(seed).shuffle(shuffled)
    n_train = round(len(shuffled) * ratios[0])
    n_valid = round(len(shuffled) * ratios[1])
    return {
        "train": shuffled[:n_train] + pinned,
        "valid": shuffled[n_train : n_train + n_valid],
        "test": shuffled[n_train + n_valid :],
    }


def histogram(values: Sequence[int], bins: int = HISTOGRAM_BINS) -> list[int]:
    """Counts in equal bins over 0-100; 100 falls in the last bin."""
    width = 100 / bins
    counts = [0] * bins
    for value in values:
        counts[min(bins - 1, int(value // width))] += 1
    return counts


def split_stats(splits: Mapping[str, Sequence[dict[str, Any]]], dropped_by_reason: Mapping[str, int]) -> dict[str, Any]:
    all_rows = [row for name in SPLITS for row in splits[name]]
    return {
        "counts": {name: len(splits[name]) for name in SPLITS} | {"total": len(all_rows)},
        "languages": {name: dict(Counter(row.get("language", "en") for row in splits[name])) for name in SPLITS},
        "histogram_bins": [[int(i * 100 / HISTOGRAM_BINS), int((i + 1) * 100 / HISTOGRAM_BINS)] for i in range(HISTOGRAM_BINS)],
        "histograms": {
            name: {axis: histogram([row["target"][axis] for row in splits[name]]) for axis in AXES} for name in SPLITS
        }
        | {"all": {axis: histogram([row["target"][axis] for row in all_rows]) for axis in AXES}},
        "dropped_by_reason": dict(dropped_by_reason),
        "dropped_total": sum(dropped_by_reason.values()),
    }


def write_splits(
    out_dir: str | Path, splits: Mapping[str, Sequence[dict[str, Any]]], stats: Mapping[str, Any]
) -> list[Path]:
    """Each split as JSONL, its export formats, and the stats file."""
    out_dir = Path(out_dir)
    paths = []
    for name in SPLITS:
        paths.append(write_jsonl(out_dir / f"{name}.jsonl", splits[name]))
        paths.extend(write_exports(out_dir, name, splits[name]))
    paths.append(write_json(out_dir / STATS_FILE, stats))
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="inp", required=True, help="filtered rows JSONL")
    parser.add_argument("--report", help="drops-by-reason JSON from quality_filter")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dropped = read_json(args.report) if args.report else {}
    splits = split_rows(read_jsonl(args.inp), args.seed)
    stats = split_stats(splits, dropped)
    write_splits(args.out_dir, splits, stats)
    print(f"wrote {stats['counts']} to {args.out_dir}")


if __name__ == "__main__":
    main()
