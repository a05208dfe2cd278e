"""Imported rows: one JSON object -> a four_class row, or a ValueError naming the problem."""

from __future__ import annotations

from typing import Any

from pipeline.tasks.four_class.labels import LABELS, LANGUAGES
from pipeline.tasks.text import detect_language

_JSON_TYPES = {dict: "an object", list: "an array", str: "a string", int: "a number", float: "a number",
               bool: "a boolean", type(None): "null"}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def validate_row(obj: Any, index: int) -> dict[str, Any]:
    """One imported JSON object {"text", "label", "language"?, "id"?} -> a row; ValueError naming the problem.

    The label is read case-insensitively; "answer" is accepted in place of
    "label" so that this task's own split files import again. Without a
    language, it is detected from the script.
    """
    if not isinstance(obj, dict):
        raise ValueError(f'expected a JSON object with "text" and "label", got {_json_type(obj)}')
    label_key = "label" if "label" in obj or "answer" not in obj else "answer"
    missing = [f'"{key}"' for key in ("text", label_key) if key not in obj]
    if missing:
        raise ValueError(f"missing {' and '.join(missing)}")
    text, label = obj["text"], obj[label_key]
    if not isinstance(text, str):
        raise ValueError(f'"text" must be a string, got {_json_type(text)}')
    if not text.strip():
        raise ValueError('"text" is empty')
    if not isinstance(label, str) or label.strip().upper() not in LABELS:
        shown = repr(label) if isinstance(label, str) else _json_type(label)
        raise ValueError(f'"{label_key}" must be one of {", ".join(LABELS)}, got {shown}')
    language = obj.get("language")
    if language is None:
        language = detect_language(text)
    elif language not in LANGUAGES:
        raise ValueError(f'"language" must be one of {", ".join(LANGUAGES)}, got {language!r}')
    row_id = obj.get("id")
    if row_id is not None and not isinstance(row_id, (str, int)):
        raise ValueError(f'"id" must be a string or a number, got {_json_type(row_id)}')
    return {"id": str(row_id) if row_id is not None else f"row-{index}", "text": text,
            "answer": label.strip().upper(), "language": language}
