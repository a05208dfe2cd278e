from pipeline.data.decontaminate import REASON, decontaminate
from pipeline.tasks.text import NearDuplicateIndex, normalise, shingles

EVAL = ["A calm piano piece for a rainy night in the old library", "Fast drums for the boss fight, loud and angry"]


def text(row):
    return row["text"]


def test_exact_and_near_duplicates_of_eval_texts_are_dropped_with_the_reason():
    rows = [{"id": "exact", "text": "a calm piano piece for a rainy night in the old library!"},
            {"id": "near", "text": "A calm piano piece for a rainy night in the old library, ok"},
            {"id": "other", "text": "Sunny ukulele song for the beach stage"}]
    kept, dropped = decontaminate(rows, EVAL, text)
    assert [row["id"] for row in kept] == ["other"]
    assert [(row["id"], row["reason"]) for row in dropped] == [("exact", REASON), ("near", REASON)]
    assert "same as the eval text" in dropped[0]["detail"] and "near duplicate" in dropped[1]["detail"]


def test_nothing_is_dropped_without_eval_texts():
    rows = [{"id": "1", "text": EVAL[0]}]
    assert decontaminate(rows, [], text) == (rows, [])


def _jaccard(a, b):
    first, second = shingles(normalise(a)), shingles(normalise(b))
    return len(first & second) / len(first | second)


def test_near_duplicate_is_the_exact_4gram_jaccard_at_the_threshold_not_a_coin_toss_of_the_banding():
    """LSH only proposes candidates; the exact overlap decides, so the same pair always gets the same answer."""
    base = "I would love a calm and gentle acoustic guitar piece for a quiet night in the snowy mountain village"
    above = [base + tail for tail in (" now", " ok", " please", ", thanks", " tonight")]
    below = [base + tail for tail in (" and a warm fire please", " with soft rain outside the window")]
    assert all(_jaccard(base, other) >= 0.9 for other in above)
    assert all(_jaccard(base, other) < 0.9 for other in below)
    index = NearDuplicateIndex(0.9)
    index.insert("base", base)
    assert [index.query(other) for other in above] == [["base"]] * len(above)
    assert [index.query(other) for other in below] == [[]] * len(below)
    assert index.add_if_new("x", below[0]) == [] and index.query(below[0]) == ["x"]
