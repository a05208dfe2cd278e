"""Accuracy overall and by mode, output length by mode, and the charts of an evaluation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks.multiple_choice.schema import LETTERS, MODES, mode_of


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _correct(row: Mapping[str, Any]) -> float:
    return float(row.get("parsed") == row["answer"])


def metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Accuracy overall and per mode, invalid rate, output length per mode (latency is the runner's).

    Rows: {"answer", "parsed", "raw", "meta"?, "tokens_decoded"?}.
    Per-mode keys group by ``meta.mode`` (None when no row has that mode); an
    unreadable output (parsed None) counts as wrong. Output tokens come from
    "tokens_decoded" where rows carry it, else None.
    """
    if not rows:
        raise ValueError("no eval rows to score")
    result: dict[str, float | None] = {
        "accuracy": _mean([_correct(row) for row in rows]),
        "invalid_rate": _mean([float(row.get("parsed") is None) for row in rows]),
    }
    for mode in MODES:
        group = [row for row in rows if mode_of(row) == mode]
        result[f"accuracy/{mode}"] = _mean([_correct(row) for row in group])
        result[f"output_chars/{mode}"] = _mean([float(len(row.get("raw") or "")) for row in group])
        result[f"output_tokens/{mode}"] = _mean(
            [float(row["tokens_decoded"]) for row in group if row.get("tokens_decoded") is not None])
    return result


HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "invalid_rate": False,
    **{f"accuracy/{mode}": True for mode in MODES},
    # Shorter outputs cost less to decode; accuracy says whether the length paid off.
    **{f"output_chars/{mode}": False for mode in MODES},
    **{f"output_tokens/{mode}": False for mode in MODES},
    "p95_inference_latency_ms": False,  # added by the runner for every task
}


def charts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy by mode (bars) and gold vs predicted letter counts (positional bias shows here)."""
    groups = {"all": list(rows)} | {mode: [row for row in rows if mode_of(row) == mode] for mode in MODES}
    present = [name for name, group in groups.items() if group or name == "all"]
    gold = Counter(row["answer"] for row in rows)
    predicted = Counter(row.get("parsed") for row in rows)
    return {
        "accuracy_by_mode": {
            "modes": present,
            "accuracy": [_mean([_correct(row) for row in groups[name]]) for name in present],
            "examples": [len(groups[name]) for name in present],
        },
        "answer_letters": {
            "letters": list(LETTERS),
            "gold": [gold.get(letter, 0) for letter in LETTERS],
            "predicted": [predicted.get(letter, 0) for letter in LETTERS],
            "invalid": predicted.get(None, 0),
        },
    }
