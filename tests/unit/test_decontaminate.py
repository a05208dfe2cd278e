from pipeline.data.decontaminate import REASON, decontaminate

EVAL = ["A calm piano piece for a rainy night in the old library", "Fast drums for the boss fight, loud and angry"]


def text(row):
    return row["text"]


def test_exact_and_near_duplicates_of_eval_texts_are_dropped_with_the_reason():
    rows = [{"id": "exact", "text": "a calm piano piece for a rainy night in the old library!"},
            {"id": "near", "text": "A calm piano piece for a rainy night in the old library, please"},
            {"id": "other", "text": "Sunny ukulele song for the beach stage"}]
    kept, dropped = decontaminate(rows, EVAL, text)
    assert [row["id"] for row in kept] == ["other"]
    assert [(row["id"], row["reason"]) for row in dropped] == [("exact", REASON), ("near", REASON)]
    assert "same as the eval text" in dropped[0]["detail"] and "near duplicate" in dropped[1]["detail"]


def test_nothing_is_dropped_without_eval_texts():
    rows = [{"id": "1", "text": EVAL[0]}]
    assert decontaminate(rows, [], text) == (rows, [])
