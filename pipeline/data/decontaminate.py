"""Decontamination (DESIGN §2): no text of any frozen eval set reaches a training split, exactly or nearly.

A row is dropped as "in_eval_set" when its normalised text equals an eval text, or when MinHash/LSH over
character 4-grams finds an eval text at or above the filter's near-duplicate threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from pipeline.tasks.text import NearDuplicateIndex, normalise

REASON = "in_eval_set"
NEAR_DUPLICATE_THRESHOLD = 0.9  # the six-parameter filter's near-duplicate threshold (hidden_params.clean)


def decontaminate(rows: Sequence[Mapping[str, Any]], eval_texts: Iterable[str], text_of: Callable[[Any], str],
                  threshold: float = NEAR_DUPLICATE_THRESHOLD) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(kept, dropped): each dropped row with reason "in_eval_set" and a detail saying which eval text it matches."""
    index = NearDuplicateIndex(threshold)
    exact: dict[str, str] = {}
    for number, text in enumerate(eval_texts):
        key = normalise(text)
        if key not in exact:
            exact[key] = text
            index.insert(f"e{number}", key, normalised=True)
    kept, dropped = [], []
    for row in rows:
        key = normalise(text_of(row))
        if key in exact:
            dropped.append({**row, "reason": REASON, "detail": f"same as the eval text {exact[key][:80]!r}"})
        elif exact and index.query(key, normalised=True):
            dropped.append({**row, "reason": REASON, "detail": "a near duplicate of an eval text"})
        else:
            kept.append(dict(row))
    return kept, dropped
