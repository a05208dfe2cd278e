"""Cleaning (what a row is dropped for) and the split stratified by answer mode."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks.common import stratified_split, text_md5
from pipeline.tasks.multiple_choice.parsing import parse_options
from pipeline.tasks.multiple_choice.schema import LETTERS, mode_of
from pipeline.tasks.registry import CleanResult

# Why `clean` drops a row, in the order the checks run.
DROP_REASONS = ("too_short", "too_long", "output_too_long", "missing_options", "answer_not_in_options",
                "duplicate_exact")
CLEAN_OPTIONS: dict[str, Any] = {"min_chars": 10, "max_chars": 2000, "max_output_chars": 2000, "min_options": 2}


def _drop_reason(row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    text = row["text"]
    if len(text) < options["min_chars"]:
        return "too_short"
    if len(text) > options["max_chars"]:
        return "too_long"
    if len(row.get("output", "")) > options["max_output_chars"]:
        return "output_too_long"
    letters = "".join(sorted(parse_options(text)))
    if len(letters) < options["min_options"] or letters != LETTERS[: len(letters)]:
        return "missing_options"
    if row["answer"] not in letters:
        return "answer_not_in_options"
    return None


def clean(rows: Sequence[dict[str, Any]], options: Mapping[str, Any]) -> CleanResult:
    """Drop rows a model should not learn from, each with a reason (DROP_REASONS).

    Options need consecutive letters from A (at least ``min_options``) and must
    include the gold letter. Exact duplicates compare the MD5 of the question
    with case, width, punctuation and spacing folded; the first one stays.
    """
    unknown = set(options) - set(CLEAN_OPTIONS)
    if unknown:
        raise ValueError(f"unknown clean option(s): {', '.join(sorted(unknown))}")
    try:
        settings = {key: int(value) for key, value in {**CLEAN_OPTIONS, **options}.items()}
    except (TypeError, ValueError):
        raise ValueError(f"clean options must be integers, got {dict(options)}") from None
    seen: set[str] = set()
    kept, dropped = [], []
    for row in rows:
        reason = _drop_reason(row, settings)
        if reason is None:
            digest = text_md5(row["text"])
            reason = "duplicate_exact" if digest in seen else None
            seen.add(digest)
        if reason:
            dropped.append(dict(row, reason=reason))
        else:
            kept.append(row)
    return CleanResult(kept=kept, dropped=dropped)


def split(rows: Sequence[dict[str, Any]], seed: int,
          fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[dict[str, Any]]]:
    """train/valid/test, stratified by meta.mode so every split keeps the direct/CoT mix.

    Each mode is shuffled with ``seed`` and cut by ``fractions`` (test takes
    the remainder); each split is then shuffled so the modes interleave.
    """
    return stratified_split(rows, seed, fractions, stratum=lambda row: str(mode_of(row)))
