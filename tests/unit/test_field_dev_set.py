"""The hand-written real-language dev set (issue 14, Build 7): shape, labels, spread, length and language."""

import json
from collections import Counter
from pathlib import Path

import pytest

import pipeline.tasks.hidden_params as hidden_params
from pipeline.tasks.text import detect_language, normalise

AXES = ("energy", "warmth", "brightness", "acousticness", "complexity", "nostalgia")
DIRECTIONS = {"high", "low"}
DEV_SET = Path(hidden_params.__file__).resolve().parent / "data" / "field_dev.jsonl"

MIN_ITEMS = {"en": 150, "ja": 50}
MIN_PER_DIRECTION = {"en": 8, "ja": 3}
MIN_LONG = {"en": 20, "ja": 8}
LONG_CHARS = 100


@pytest.fixture(scope="module")
def rows():
    lines = DEV_SET.read_text(encoding="utf-8").splitlines()
    parsed = []
    for number, line in enumerate(lines, 1):
        assert line.strip(), f"line {number} is blank"
        parsed.append(json.loads(line))
    return parsed


def by_language(rows, language):
    return [row for row in rows if row["language"] == language]


def test_every_row_has_the_four_fields_and_a_known_language(rows):
    for row in rows:
        assert set(row) == {"id", "request_text", "language", "constraints"}, row.get("id")
        assert row["language"] in MIN_ITEMS, row["id"]
        assert isinstance(row["request_text"], str) and row["request_text"].strip(), row["id"]


@pytest.mark.parametrize("language", sorted(MIN_ITEMS))
def test_enough_items_per_language(rows, language):
    assert len(by_language(rows, language)) >= MIN_ITEMS[language]


def test_ids_are_unique_and_name_their_language(rows):
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    for row in rows:
        assert row["id"].startswith(f"dev-{row['language']}-"), row["id"]


def test_constraints_are_valid_non_empty_and_without_repeated_axes(rows):
    for row in rows:
        constraints = row["constraints"]
        assert constraints, f"{row['id']} has no constraint"
        axes = [constraint["axis"] for constraint in constraints]
        assert len(axes) == len(set(axes)), f"{row['id']} repeats an axis"
        for constraint in constraints:
            assert set(constraint) == {"axis", "direction"}, row["id"]
            assert constraint["axis"] in AXES, row["id"]
            assert constraint["direction"] in DIRECTIONS, row["id"]


def test_texts_are_unique_once_normalised(rows):
    counts = Counter(normalise(row["request_text"]) for row in rows)
    repeated = [text for text, count in counts.items() if count > 1]
    assert not repeated, repeated


@pytest.mark.parametrize("language", sorted(MIN_ITEMS))
def test_every_axis_is_labelled_both_ways(rows, language):
    counts = Counter((c["axis"], c["direction"]) for row in by_language(rows, language) for c in row["constraints"])
    short = {(axis, direction): counts[(axis, direction)]
             for axis in AXES for direction in sorted(DIRECTIONS)
             if counts[(axis, direction)] < MIN_PER_DIRECTION[language]}
    assert not short, f"{language}: fewer than {MIN_PER_DIRECTION[language]} labels for {short}"


@pytest.mark.parametrize("language", sorted(MIN_ITEMS))
def test_short_requests_and_long_descriptions_are_both_present(rows, language):
    lengths = [len(row["request_text"]) for row in by_language(rows, language)]
    assert sum(length >= LONG_CHARS for length in lengths) >= MIN_LONG[language]
    assert sum(length < LONG_CHARS for length in lengths) >= MIN_LONG[language]


def test_detected_language_agrees_with_the_label(rows):
    disagree = [row["id"] for row in rows if detect_language(row["request_text"]) != row["language"]]
    assert len(disagree) <= 0.05 * len(rows), disagree
