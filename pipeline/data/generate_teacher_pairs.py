"""Stage 1 (generate): sample target vectors, have a teacher write the request.

Run alone: python -m pipeline.data.generate_teacher_pairs --size 2000 --out pairs.jsonl
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.data.jsonl import write_jsonl
from pipeline.data.teachers import LANGUAGES, Teacher, get_teacher, teacher_names
from pipeline.tasks.hidden_params import AXES, VALUE_MAX, VALUE_MIN, constraints_for

LANGUAGE_CHOICES = (*LANGUAGES, "mixed")
ProgressCallback = Callable[[int, int], None]


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


def sample_target(rng: random.Random, oversample: Sequence[Band] = ()) -> dict[str, int]:
    target = {axis: rng.randint(VALUE_MIN, VALUE_MAX) for axis in AXES}
    for band in oversample:
        if rng.random() < band.share:
            target[band.axis] = rng.randint(band.low, band.high)
    return target


def generate_pairs(
    size: int,
    seed: int,
    language: str = "en",
    teacher: Teacher | None = None,
    oversample: Sequence[Band] = (),
    on_progress: ProgressCallback | None = None,
) -> list[dict[str, Any]]:
    """`size` rows of {id, request_text, language, target, constraints, teacher, usage}."""
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if language not in LANGUAGE_CHOICES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGE_CHOICES)}, got {language!r}")
    teacher = teacher or get_teacher("template")
    rng = random.Random(seed)
    rows = []
    step = max(1, size // 100)
    for index in range(size):
        row_language = rng.choice(LANGUAGES) if language == "mixed" else language
        target = sample_target(rng, oversample)
        output = teacher.write(target, row_language, rng)
        rows.append(
            {
                "id": f"g{index:06d}",
                "request_text": output.text,
                "language": row_language,
                "target": target,
                "constraints": constraints_for(target),
                "teacher": teacher.name,
                "usage": output.usage,
            }
        )
        if on_progress and (index + 1 == size or (index + 1) % step == 0):
            on_progress(index + 1, size)
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000, help="pairs to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--language", choices=LANGUAGE_CHOICES, default="en")
    parser.add_argument("--teacher", default="template", choices=teacher_names(), help="default: template (offline)")
    parser.add_argument("--oversample", action="append", default=[], metavar="AXIS:LOW-HIGH:SHARE")
    parser.add_argument("--out", required=True, help="output JSONL path")
    args = parser.parse_args(argv)
    try:
        bands = [Band.parse(spec) for spec in args.oversample]
        rows = generate_pairs(args.size, args.seed, args.language, get_teacher(args.teacher), bands)
    except ValueError as exc:
        parser.error(str(exc))
    write_jsonl(args.out, rows)
    print(f"wrote {len(rows)} pairs to {args.out}")


if __name__ == "__main__":
    main()
