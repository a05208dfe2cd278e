"""Imported rows: one JSON object -> a multiple_choice row, or a ValueError naming the problem."""

from __future__ import annotations

from typing import Any

from pipeline.tasks.multiple_choice.parsing import split_output
from pipeline.tasks.multiple_choice.schema import LANGUAGES, LETTERS, MODES
from pipeline.tasks.text import detect_language


def validate_row(obj: Any, index: int) -> dict[str, Any]:
    """One imported object -> a row {"id", "text", "answer", "output", "meta", "language"}.

    ``index`` (the line number) names the row when the object has no "id".
    """
    if not isinstance(obj, dict):
        raise ValueError('expected a JSON object with "input", "output" and "meta"')
    missing = [key for key in ("input", "output", "meta") if key not in obj]
    if missing:
        raise ValueError("missing key(s): " + ", ".join(f'"{key}"' for key in missing))
    for key in ("input", "output"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise ValueError(f'"{key}" must be a non-empty string')
    meta = obj["meta"]
    if not isinstance(meta, dict):
        raise ValueError('"meta" must be an object')
    if meta.get("mode") not in MODES:
        raise ValueError(f'"meta.mode" must be "direct" or "cot", got {meta.get("mode")!r}')
    reasoning, answer = split_output(obj["output"])
    if answer is None:
        raise ValueError(f'"output" has no readable answer letter ({LETTERS[0]}-{LETTERS[-1]}); '
                         'end it with e.g. "Answer: B" or "答え: B"')
    if meta["mode"] == "cot" and not reasoning:
        raise ValueError('"meta.mode" is "cot" but "output" has no reasoning before the answer')
    row_id = obj.get("id", f"mc{index:06d}")
    if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
        raise ValueError('"id" must be a string or an integer')
    language = meta.get("language") or detect_language(obj["input"])
    if language not in LANGUAGES:
        raise ValueError(f'"meta.language" must be one of {", ".join(LANGUAGES)}, got {language!r}')
    return {
        "id": str(row_id),
        "text": obj["input"].strip(),
        "answer": answer,
        "output": obj["output"].strip(),
        "meta": dict(meta),
        "language": language,
    }
