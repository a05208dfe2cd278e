"""The six-parameter task's generator: sample target vectors, have a teacher write each request.

A teacher with ``write_many`` (the Mistral teacher) gets every target at once
and writes them concurrently; it may stop early (budget spent, API failing),
in which case fewer rows come back and ``on_log`` is told why.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.tasks.hidden_params.bands import Band
from pipeline.tasks.hidden_params.schema import AXES, VALUE_MAX, VALUE_MIN, constraints_for
from pipeline.tasks.hidden_params.teacher import LANGUAGES, Teacher, TeacherOutput, get_teacher

LANGUAGE_CHOICES = (*LANGUAGES, "mixed")
ProgressCallback = Callable[[int, int], None]
LogCallback = Callable[[str], None]


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
    on_log: LogCallback | None = None,
) -> list[dict[str, Any]]:
    """Up to `size` rows of {id, request_text, language, target, constraints, teacher, usage}.

    Fewer only when a batch teacher stops early: `on_log` then gets one line
    with the reason; a teacher that wrote nothing at all raises RuntimeError.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if language not in LANGUAGE_CHOICES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGE_CHOICES)}, got {language!r}")
    teacher = teacher or get_teacher("template")
    rng = random.Random(seed)
    step = max(1, size // 100)
    if hasattr(teacher, "write_many"):
        return _generate_in_batch(teacher, size, rng, language, oversample, step, on_progress, on_log)
    rows = []
    for index in range(size):
        row_language = rng.choice(LANGUAGES) if language == "mixed" else language
        target = sample_target(rng, oversample)
        output = teacher.write(target, row_language, rng)
        rows.append(_row(index, output, row_language, target, teacher.name))
        if on_progress and (index + 1 == size or (index + 1) % step == 0):
            on_progress(index + 1, size)
    return rows


def _row(index: int, output: TeacherOutput, language: str, target: dict[str, int], teacher: str) -> dict[str, Any]:
    return {
        "id": f"g{index:06d}",
        "request_text": output.text,
        "language": language,
        "target": target,
        "constraints": constraints_for(target),
        "teacher": teacher,
        "usage": output.usage,
    }


def _generate_in_batch(
    teacher: Any,
    size: int,
    rng: random.Random,
    language: str,
    oversample: Sequence[Band],
    step: int,
    on_progress: ProgressCallback | None,
    on_log: LogCallback | None,
) -> list[dict[str, Any]]:
    """Sample every target first (each with its own seeded rng), then let the teacher write them all.

    A row keeps the id of its slot, so the ids of a run that stopped early
    still name the same targets as a complete run with the same seed.
    """
    slots = []
    for _ in range(size):
        row_language = rng.choice(LANGUAGES) if language == "mixed" else language
        slots.append((sample_target(rng, oversample), row_language, random.Random(rng.getrandbits(64))))

    def progress(done: int, total: int) -> None:
        if on_progress and (done == total or done % step == 0):
            on_progress(done, total)

    batch = teacher.write_many(slots, on_progress=progress, on_log=on_log)
    rows = [
        _row(index, output, row_language, target, teacher.name)
        for index, ((target, row_language, _), output) in enumerate(zip(slots, batch.outputs))
        if output is not None
    ]
    if batch.stopped_reason:
        if not rows:
            raise RuntimeError(f"the {teacher.name} teacher wrote no pairs: {batch.stopped_reason}")
        if on_log:
            on_log(f"the {teacher.name} teacher stopped after {len(rows)} of {size} pairs: {batch.stopped_reason}")
    return rows
