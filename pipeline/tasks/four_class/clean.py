"""Cleaning (what a row is dropped for) and the label-stratified split."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks import common
from pipeline.tasks.common import text_md5
from pipeline.tasks.registry import CleanResult
from pipeline.tasks.text import detect_language, ja_ratio

DROP_REASONS: tuple[str, ...] = ("too_short", "too_long", "wrong_language", "low_quality", "duplicate_exact")
CLEAN_OPTIONS: dict[str, Any] = {
    "min_chars": 50,
    "max_chars": 5000,
    "min_ja_ratio": 0.30,  # share of Japanese script among the letters of a "ja" row
    "min_quality": 0.5,  # quality_score threshold
    "dedup_md5": True,  # drop later rows whose normalised text has the same MD5
}

# quality_score: a text whose non-space characters are at least this share letters, and whose
# character 5-grams are at least this share distinct, scores 1; below, each factor falls linearly.
_FULL_LETTER_SHARE = 0.8
_FULL_VARIETY = 0.5
_GRAM = 5


def quality_score(text: str) -> float:
    """0-1, the product of a letter factor and a variety factor.

    Letter factor: letters (any script) among non-space characters, over 0.8,
    capped at 1; emoji walls, digit runs and symbol spam score low. Variety
    factor: distinct character 5-grams among all of them (case and spacing
    folded), over 0.5, capped at 1; copy-pasted lines and "lol lol lol" score
    low. Natural chat, English or Japanese, scores 1 (5-gram variety stays
    above 0.8 even at 5000 characters). Length is its own check in ``clean``.
    """
    visible = [char for char in text if not char.isspace()]
    folded = " ".join(text.casefold().split())
    grams = [folded[start : start + _GRAM] for start in range(len(folded) - _GRAM + 1)]
    if not visible or not grams:
        return 0.0
    letters = sum(char.isalpha() for char in visible) / len(visible)
    variety = len(set(grams)) / len(grams)
    return min(1.0, letters / _FULL_LETTER_SHARE) * min(1.0, variety / _FULL_VARIETY)


def clean(rows: Sequence[dict[str, Any]], options: Mapping[str, Any]) -> CleanResult:
    """Keep the rows worth training on; each dropped row gets "reason" (``DROP_REASONS``) and "detail".

    Checks run in the order of ``DROP_REASONS``; a duplicate is a later row whose
    normalised text has the MD5 of a kept one, so the first copy stays.
    """
    unknown = sorted(set(options) - set(CLEAN_OPTIONS))
    if unknown:
        raise ValueError(f"unknown cleaning option(s) {', '.join(unknown)}; expected {', '.join(CLEAN_OPTIONS)}")
    settings = {**CLEAN_OPTIONS, **options}
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    first_by_md5: dict[str, str] = {}
    for row in rows:
        reason = _drop_reason(row, settings)
        if reason is None and settings["dedup_md5"]:
            digest = text_md5(row["text"])
            if digest in first_by_md5:
                reason = ("duplicate_exact", f"same normalised text (MD5 {digest}) as {first_by_md5[digest]}")
            else:
                first_by_md5[digest] = str(row.get("id"))
        if reason is None:
            kept.append(row)
        else:
            dropped.append({**row, "reason": reason[0], "detail": reason[1]})
    return CleanResult(kept, dropped)


def _drop_reason(row: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[str, str] | None:
    text = row["text"]
    if len(text) < settings["min_chars"]:
        return "too_short", f"{len(text)} < {settings['min_chars']} characters"
    if len(text) > settings["max_chars"]:
        return "too_long", f"{len(text)} > {settings['max_chars']} characters"
    if (row.get("language") or detect_language(text)) == "ja":
        ratio = ja_ratio(text)
        if ratio < settings["min_ja_ratio"]:
            return "wrong_language", f"Japanese script ratio {ratio:.2f} < {settings['min_ja_ratio']}"
    score = quality_score(text)
    if score < settings["min_quality"]:
        return "low_quality", f"quality score {score:.2f} < {settings['min_quality']}"
    return None


def stratified_split(rows: Sequence[dict[str, Any]], seed: int,
                     fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[dict[str, Any]]]:
    """train/valid/test with each label cut in the same fractions (seeded); test takes each label's remainder."""
    return common.stratified_split(rows, seed, fractions, stratum=lambda row: row["answer"])
