"""Reading a label off a model's output."""

from __future__ import annotations

import re
import unicodedata

from pipeline.tasks.four_class.labels import LABELS

# Stripped from both ends before the exact comparison: quotes, markdown, punctuation (ASCII and Japanese).
_EDGE_CHARACTERS = " \t\r\n\"'`*_.,:;!?()[]{}<>「」『』【】。、"
# Inside a longer answer only the upper-case spelling counts: "allow", "deny" and "refuse" are
# everyday verbs, and "I refuse to classify this" is no REFUSE.
_LABEL_WORD = re.compile(r"(?<![A-Za-z])(" + "|".join(LABELS) + r")(?![A-Za-z])")


def parse(raw: str) -> str | None:
    """The label an output gives, or None.

    Tolerant of what chat models wrap around an answer (spaces, quotes,
    markdown, a trailing period, any letter case, full-width letters), and of
    a sentence that names exactly one label in capitals ("Label: DENY").
    Honest otherwise: no label, or two different ones, is unreadable.
    """
    if not isinstance(raw, str):
        return None
    text = unicodedata.normalize("NFKC", raw).strip(_EDGE_CHARACTERS)
    if text.upper() in LABELS:
        return text.upper()
    found = set(_LABEL_WORD.findall(text))
    return found.pop() if len(found) == 1 else None
