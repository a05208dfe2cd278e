"""The six-parameter task's filter: drop rows a model should not learn from, recording why (leaks of the answer,
length, language, exact and near duplicates).

Run alone: python -m pipeline.data.quality_filter --in pairs.jsonl --out kept.jsonl --dropped dropped.jsonl
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pipeline.tasks.text import NearDuplicateIndex, ja_ratio, normalise

ProgressCallback = Callable[[int, int], None]

# Every reason a row can be dropped for, in the order the checks run.
REASONS = (
    "leak_axis_name",
    "leak_number",
    "leak_json",
    "too_short",
    "too_long",
    "wrong_language",
    "duplicate_exact",
    "duplicate_near",
)

_AXIS_NAMES = re.compile(
    r"\b(energy|warmth|brightness|acousticness|complexity|nostalgia)\b"
    r"|エネルギー|温かさ|暖かさ|温かみ|暖かみ|明るさ|ブライトネス|アコースティック性|アコースティック度"
    r"|複雑さ|複雑性|ノスタルジー|ノスタルジア|懐かしさ|ウォームス",
    re.IGNORECASE,
)
_EN_NUMBER_WORDS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand percent sixties seventies eighties nineties"
).split()
# Digits of any script, English number words, and Japanese numerals. 一 is left out on
# purpose (一緒, 一番 and 一人 are everyday words); the rest are dropped conservatively,
# since a leaked number teaches the model to copy rather than read.
_NUMBERS = re.compile(
    r"\d|\b(" + "|".join(_EN_NUMBER_WORDS) + r")\b|[〇二三四五六七八九十百千万]|ゼロ|パーセント|[%％]",
    re.IGNORECASE,
)
_JSON = re.compile(r"[{}\[\]]|\"\s*:")


@dataclass(frozen=True)
class FilterConfig:
    """Bounds are per language because Japanese packs more meaning per character."""

    min_chars: dict[str, int] = field(default_factory=lambda: {"en": 15, "ja": 6})
    max_chars: dict[str, int] = field(default_factory=lambda: {"en": 400, "ja": 200})
    min_ja_ratio: float = 0.5
    near_duplicate_threshold: float = 0.9
    num_perm: int = 64


@dataclass
class FilterResult:
    kept: list[dict[str, Any]]
    dropped: list[dict[str, Any]]

    @property
    def report(self) -> dict[str, int]:
        """Drops by reason, every reason present (0 when none) so charts stay stable."""
        counts = Counter(row["reason"] for row in self.dropped)
        return {reason: counts.get(reason, 0) for reason in REASONS}


def leak_reason(text: str) -> tuple[str, str] | None:
    """(reason, matched text) for the first leak found, else None."""
    for reason, pattern in (("leak_axis_name", _AXIS_NAMES), ("leak_number", _NUMBERS), ("leak_json", _JSON)):
        match = pattern.search(text)
        if match:
            return reason, match.group(0)
    return None


def _row_reason(row: dict[str, Any], config: FilterConfig) -> tuple[str, str] | None:
    text, language = row["request_text"], row.get("language", "en")
    leak = leak_reason(text)
    if leak:
        return leak
    length = len(text)
    if length < config.min_chars.get(language, 1):
        return "too_short", f"{length} < {config.min_chars[language]} characters"
    if length > config.max_chars.get(language, 10**6):
        return "too_long", f"{length} > {config.max_chars[language]} characters"
    ratio = ja_ratio(text)
    if language == "ja" and ratio < config.min_ja_ratio:
        return "wrong_language", f"Japanese script ratio {ratio:.2f} < {config.min_ja_ratio}"
    if language == "en" and ratio > 0:
        return "wrong_language", f"Japanese script in an English row (ratio {ratio:.2f})"
    return None


def quality_filter(
    rows: Iterable[dict[str, Any]],
    config: FilterConfig | None = None,
    on_progress: ProgressCallback | None = None,
) -> FilterResult:
    """Keep the first of any duplicates; every drop carries a reason and a detail."""
    config = config or FilterConfig()
    rows = list(rows)
    near = NearDuplicateIndex(config.near_duplicate_threshold, config.num_perm)
    seen_exact: dict[str, str] = {}
    kept: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    step = max(1, len(rows) // 100)
    for index, row in enumerate(rows):
        reason = _row_reason(row, config)
        if reason is None:
            key = normalise(row["request_text"])
            if key in seen_exact:
                reason = ("duplicate_exact", f"same as {seen_exact[key]}")
            else:
                similar = near.add_if_new(row["id"], key, normalised=True)
                if similar:
                    reason = ("duplicate_near", f"near {similar[0]}")
                else:
                    seen_exact[key] = row["id"]
        if reason is None:
            kept.append(row)
        else:
            dropped.append({**row, "reason": reason[0], "detail": reason[1]})
        if on_progress and (index + 1 == len(rows) or (index + 1) % step == 0):
            on_progress(index + 1, len(rows))
    return FilterResult(kept, dropped)
