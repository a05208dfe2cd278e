"""The four labels and the languages of four_class: what every other module of the package reads."""

from __future__ import annotations

NAME = "four_class"
LABELS: tuple[str, ...] = ("ALLOW", "ESCALATION", "DENY", "REFUSE")
ALLOW = "ALLOW"
INVALID = len(LABELS)  # the column index of unreadable outputs in confusion counts
LANGUAGES: tuple[str, ...] = ("en", "ja")
LANGUAGE_CHOICES: tuple[str, ...] = (*LANGUAGES, "mixed")
