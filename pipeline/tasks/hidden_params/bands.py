"""Error bands: where a model erred most, as generation bands for the next cycle (DESIGN §2: the loop).

A `Band` asks the generator to draw one axis from a range for a share of the
rows; `worst_bands` picks the bands from a model's evaluation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.tasks.hidden_params.metrics import BUCKET_COUNT, BUCKET_WIDTH, bucket
from pipeline.tasks.hidden_params.schema import AXES, VALUE_MAX, VALUE_MIN


@dataclass(frozen=True)
class Band:
    """Draw `axis` from [low, high] for a `share` of the rows instead of uniformly.

    The loop uses this to ask for more data where the last model erred most.
    """

    axis: str
    low: int
    high: int
    share: float

    def __post_init__(self) -> None:
        if self.axis not in AXES:
            raise ValueError(f"unknown axis {self.axis!r}; expected one of {', '.join(AXES)}")
        if not VALUE_MIN <= self.low <= self.high <= VALUE_MAX:
            raise ValueError(f"band {self.low}-{self.high} must lie within {VALUE_MIN}-{VALUE_MAX}")
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {self.share}")

    @classmethod
    def parse(cls, spec: str | dict[str, Any]) -> Band:
        """From a dict or the CLI form 'axis:low-high:share', e.g. 'energy:0-20:0.3'."""
        if isinstance(spec, dict):
            return cls(str(spec["axis"]), int(spec["low"]), int(spec["high"]), float(spec["share"]))
        try:
            axis, span, share = spec.split(":")
            low, high = span.split("-")
            return cls(axis, int(low), int(high), float(share))
        except ValueError as exc:
            raise ValueError(f"bad band {spec!r}: expected axis:low-high:share ({exc})") from None


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
        ((sum(values) / len(values), axis, cell) for (axis, cell), values in errors.items()
         if len(values) >= min_examples),
        reverse=True,
    )
    bands = []
    for _, axis, cell in ranked[:k]:
        low = cell * BUCKET_WIDTH
        high = VALUE_MAX if cell == BUCKET_COUNT - 1 else low + BUCKET_WIDTH - 1
        bands.append(Band(axis, low, high, share))
    return bands
