"""The flagship task: a player's music request -> six hidden parameters.

The output contract (DESIGN §1, §6): one JSON object, exactly these six keys in
this order, integer values 0-100, nothing else. Parsing is strict on purpose:
the game reads this JSON directly, so "almost valid" is invalid.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

NAME = "hidden_params"

AXES: tuple[str, ...] = ("energy", "warmth", "brightness", "acousticness", "complexity", "nostalgia")
VALUE_MIN, VALUE_MAX = 0, 100
NEUTRAL: tuple[int, ...] = (50,) * len(AXES)

# A constraint is recorded for every salient axis (DESIGN §6).
HIGH_AT, LOW_AT = 65, 35
# ... and counts as satisfied by a prediction past these bounds.
HIGH_SATISFIED_AT, LOW_SATISFIED_AT = 55, 45

SYSTEM_PROMPT = (
    "You turn a player's music request into six hidden parameters. "
    "Reply with one JSON object and nothing else, with exactly these keys in this order: "
    + ", ".join(AXES)
    + ". Each value is an integer from 0 to 100."
)

def format_target(values: Sequence[int] | Mapping[str, int]) -> str:
    """The canonical assistant answer: compact JSON, keys in canonical order."""
    vector = to_vector(values)
    return "{" + ",".join(f'"{axis}":{value}' for axis, value in zip(AXES, vector)) + "}"


def to_vector(values: Sequence[int] | Mapping[str, int]) -> tuple[int, ...]:
    """Six validated ints from a mapping (by axis name) or a sequence (canonical order)."""
    if isinstance(values, Mapping):
        missing = [axis for axis in AXES if axis not in values]
        if missing:
            raise ValueError(f"missing axes: {', '.join(missing)}")
        items = [values[axis] for axis in AXES]
    else:
        items = list(values)
        if len(items) != len(AXES):
            raise ValueError(f"expected {len(AXES)} values, got {len(items)}")
    vector = []
    for axis, value in zip(AXES, items):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{axis} must be an integer, got {value!r}")
        if not VALUE_MIN <= value <= VALUE_MAX:
            raise ValueError(f"{axis} must be between {VALUE_MIN} and {VALUE_MAX}, got {value}")
        vector.append(value)
    return tuple(vector)


def parse(output: str) -> tuple[int, ...] | None:
    """Strict parse of a model output; None when it breaks any rule of DESIGN §6.

    The whole output (whitespace trimmed) must be one JSON object with exactly
    the six keys, in order, each an integer literal 0-100 (no floats, no bools,
    no strings, no duplicate keys).
    """
    text = output.strip()
    if not text.startswith("{"):
        return None
    try:
        pairs = json.loads(text, object_pairs_hook=lambda p: p)
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(pairs, list) or [key for key, _ in pairs] != list(AXES):
        return None
    values = [value for _, value in pairs]
    if any(isinstance(v, bool) or not isinstance(v, int) or not VALUE_MIN <= v <= VALUE_MAX for v in values):
        return None
    return tuple(values)


def parse_or_neutral(output: str) -> tuple[tuple[int, ...], bool]:
    """(vector, valid): invalid outputs count as the neutral vector for error metrics."""
    parsed = parse(output)
    return (parsed, True) if parsed is not None else (NEUTRAL, False)


def constraints_for(values: Sequence[int] | Mapping[str, int]) -> list[dict[str, str]]:
    """The constraints a request for this target must express: one per salient axis."""
    constraints = []
    for axis, value in zip(AXES, to_vector(values)):
        if value >= HIGH_AT:
            constraints.append({"axis": axis, "direction": "high"})
        elif value <= LOW_AT:
            constraints.append({"axis": axis, "direction": "low"})
    return constraints


def chat_messages(request_text: str, target: Sequence[int] | Mapping[str, int] | None = None) -> list[dict[str, str]]:
    """Chat format used for SFT and prompting: system + user (+ assistant when target given)."""
    messages = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": request_text},
    ]
    if target is not None:
        messages.append({"role": "assistant", "content": format_target(target)})
    return messages


def target_dict(values: Sequence[int] | Mapping[str, int]) -> dict[str, int]:
    return dict(zip(AXES, to_vector(values)))


def record_from_json(obj: Any) -> tuple[str, dict[str, int]]:
    """(request_text, target) from an imported JSON object; ValueError names the problem.

    Accepts the six targets at top level or under "target".
    """
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    text = obj.get("request_text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError('"request_text" must be a non-empty string')
    source = obj.get("target", obj)
    if not isinstance(source, dict):
        raise ValueError('"target" must be an object')
    return text.strip(), target_dict(source)
