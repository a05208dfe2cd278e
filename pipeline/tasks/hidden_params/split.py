"""The six-parameter task's split (seeded shuffle, corrections always train) and its split statistics."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks.hidden_params.schema import AXES
from pipeline.tasks.registry import SPLITS

DEFAULT_RATIOS = (0.8, 0.1, 0.1)
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


def split_stats(splits: Mapping[str, Sequence[dict[str, Any]]],
                dropped_by_reason: Mapping[str, int]) -> dict[str, Any]:
    all_rows = [row for name in SPLITS for row in splits[name]]
    return {
        "counts": {name: len(splits[name]) for name in SPLITS} | {"total": len(all_rows)},
        "languages": {name: dict(Counter(row.get("language", "en") for row in splits[name])) for name in SPLITS},
        "histogram_bins": [[int(i * 100 / HISTOGRAM_BINS), int((i + 1) * 100 / HISTOGRAM_BINS)]
                           for i in range(HISTOGRAM_BINS)],
        "histograms": {
            name: {axis: histogram([row["target"][axis] for row in splits[name]]) for axis in AXES} for name in SPLITS
        }
        | {"all": {axis: histogram([row["target"][axis] for row in all_rows]) for axis in AXES}},
        "dropped_by_reason": dict(dropped_by_reason),
        "dropped_total": sum(dropped_by_reason.values()),
    }
