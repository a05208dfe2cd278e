"""The keyword rule baseline: a moderator's first-pass word lists (data/keywords.txt), checked in the prompt's order.

The first class with a hit wins (ESCALATION, DENY, REFUSE), no hit is ALLOW.
The lists know nothing of context: "we killed the boss" passes, but "this build
is stupid strong" is denied. That is the floor a trained model must clear.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from pipeline.tasks.datafiles import Sections, expect_sections, load_sections
from pipeline.tasks.four_class.labels import ALLOW, LANGUAGES
from pipeline.tasks.predictors import RulePredictor

KEYWORD_LABELS: tuple[str, ...] = ("ESCALATION", "DENY", "REFUSE")  # priority order


def parse_keywords(sections: Sections) -> dict[str, tuple[str, ...]]:
    """label -> its keywords, English then Japanese, from the sections "[<language> <LABEL>]"."""
    expect_sections(sections, [f"{language} {label}" for language in LANGUAGES for label in KEYWORD_LABELS])
    keywords: dict[str, tuple[str, ...]] = {}
    for label in KEYWORD_LABELS:
        words = []
        for language in LANGUAGES:
            for entry in sections[f"{language} {label}"]:
                if not entry.text.strip():
                    raise entry.error("an empty keyword would match every text")
                words.append(entry.text)
        keywords[label] = tuple(words)
    return keywords


def _fold(text: str) -> str:
    """Full-width letters and half-width kana folded (NFKC), lower case, straight apostrophes."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")


def _keyword_pattern(words: Sequence[str]) -> re.Pattern[str]:
    # ASCII keywords match as whole words ("bot" is not "bottle"); Japanese ones anywhere (no spaces to split on).
    parts = [rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9])" if word.isascii() else re.escape(word)
             for word in map(_fold, words)]
    return re.compile("|".join(parts))


KEYWORDS = parse_keywords(load_sections(__package__, "data/keywords.txt"))
_KEYWORD_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (label, _keyword_pattern(KEYWORDS[label])) for label in KEYWORD_LABELS
)


def keyword_label(text: str) -> str:
    """The label of the first class whose keywords occur (priority ESCALATION, DENY, REFUSE), else ALLOW."""
    folded = _fold(text)
    for label, pattern in _KEYWORD_RULES:
        if pattern.search(folded):
            return label
    return ALLOW


class KeywordRuleBaseline(RulePredictor):
    """The keyword rules as a Predictor: the label as raw text, latency measured per request."""

    def answer(self, text: str) -> str:
        return keyword_label(text)
