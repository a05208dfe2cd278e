"""Plumbing the text tasks share: what a duplicate text is, and the stratified train/valid/test split."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipeline.data.quality_filter import normalise


def text_md5(text: str) -> str:
    """MD5 of the normalised text (case, width, punctuation and spacing folded): what a duplicate is."""
    return hashlib.md5(normalise(text).encode("utf-8")).hexdigest()


def stratified_split(rows: Sequence[dict[str, Any]], seed: int, fractions: tuple[float, float, float],
                     stratum: Callable[[Mapping[str, Any]], str]) -> dict[str, list[dict[str, Any]]]:
    """train/valid/test with each stratum (``stratum(row)``) cut in the same fractions, seeded.

    Strata are taken in sorted order, so the seed alone decides the split; each
    is shuffled and cut by ``fractions`` (test takes the remainder), then each
    split is shuffled so the strata interleave.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    rng = random.Random(seed)
    strata: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        strata.setdefault(stratum(row), []).append(row)
    parts: dict[str, list[dict[str, Any]]] = {"train": [], "valid": [], "test": []}
    for key in sorted(strata):
        group = strata[key]
        rng.shuffle(group)
        n_train = round(len(group) * fractions[0])
        n_valid = round(len(group) * fractions[1])
        parts["train"] += group[:n_train]
        parts["valid"] += group[n_train : n_train + n_valid]
        parts["test"] += group[n_train + n_valid :]
    for part in parts.values():
        rng.shuffle(part)
    return parts
