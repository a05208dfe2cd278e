"""multiple_choice's row format: the letters an answer may be, the answer modes and the train modes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NAME = "multiple_choice"
LETTERS = "ABCDE"
MODES = ("direct", "cot")
TRAIN_MODES = ("direct", "cot", "auto")
LANGUAGES = ("en", "ja")


def mode_of(row: Mapping[str, Any]) -> str | None:
    """A row's answer mode (meta.mode), None when it has none."""
    return (row.get("meta") or {}).get("mode")
