"""Where a model erred most, as generation bands for the next cycle (DESIGN §2: the loop)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence

from pipeline.data.generate_teacher_pairs import Band
from pipeline.eval.metrics import BUCKET_COUNT, BUCKET_WIDTH, bucket
from pipeline.tasks.hidden_params import AXES, VALUE_MAX


def worst_bands(
    pairs: Iterable[tuple[Sequence[int], Sequence[int]]], k: int = 2, share: float = 0.3, min_examples: int = 3
) -> list[Band]:
    """The k (axis, target bucket) cells with the highest mean absolute error.

    `pairs` are (target, predicted) vectors, invalid predictions already replaced by
    the neutral vector. Cells with fewer than `min_examples` examples are ignored:
    one unlucky example should not steer a whole cycle's data.
    """
    errors: dict[tuple[str, int], list[int]] = defaultdict(list)
    for target, predicted in pairs:
        for axis, want, got in zip(AXES, target, predicted):
            errors[(axis, bucket(want))].append(abs(want - got))
    ranked = sorted(
        ((sum(values) / len(values), axis, cell) for (axis, cell), values in errors.items() if len(values) >= min_examples),
        reverse=True,
    )
    bands = []
    for _, axis, cell in ranked[:k]:
        low = cell * BUCKET_WIDTH
        high = VALUE_MAX if cell == BUCKET_COUNT - 1 else low + BUCKET_WIDTH - 1
        bands.append(Band(axis, low, high, share))
    return bands
