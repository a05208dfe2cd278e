"""Plumbing the text tasks share: what a duplicate text is, the stratified split, and a base for string answers."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipeline.tasks.registry import Generated, LogCallback, ProgressCallback, Row, Task
from pipeline.tasks.text import normalise


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


class TextAnswerTask(Task):
    """A task whose answer is one short string (a label, a letter): scored right or wrong.

    Subclasses give ``demo_rows`` (the offline generator) and the rest of the protocol.
    """

    teachers = ("demo",)

    def demo_rows(self, size: int, seed: int, language: str,
                  on_progress: ProgressCallback | None = None) -> list[Row]:
        raise NotImplementedError

    def generate(self, *, size: int, seed: int, language: str, teacher: str = "demo",
                 oversample: Sequence[Mapping[str, Any]] = (), budget_usd: float | None = None,
                 on_progress: ProgressCallback | None = None, on_log: LogCallback | None = None) -> Generated:
        if teacher != "demo":
            raise ValueError(f"{self.name} writes its data with its offline demo generator, not {teacher!r}")
        if on_log:
            on_log(f"writing {size} {self.name} demo rows ({language}, seed {seed})")
        return Generated(self.demo_rows(size, seed, language, on_progress=on_progress))

    def check_answer(self, value: Any) -> str:
        choices = self.answer_fields[0].choices if self.answer_fields else ()
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"the answer must be a non-empty string, got {value!r}")
        if choices and value not in choices:
            raise ValueError(f"the answer must be one of {', '.join(choices)}, got {value!r}")
        return value

    def score_row(self, example: Mapping[str, Any], raw: str) -> dict[str, Any]:
        parsed = self.parse(raw)
        correct = parsed == example[self.answer_key]
        return {"parsed": parsed, "valid": parsed is not None, "correct": correct, "error": 0.0 if correct else 1.0}
