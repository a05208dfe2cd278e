import pytest

from pipeline.tasks.hidden_params.clean import REASONS, FilterConfig, quality_filter
from pipeline.tasks.text import normalise

TARGET = {"energy": 50, "warmth": 50, "brightness": 50, "acousticness": 50, "complexity": 50, "nostalgia": 50}


def rows(*texts, language="en"):
    return [{"id": f"r{i}", "request_text": t, "language": language, "target": TARGET} for i, t in enumerate(texts)]


def reason_of(text, language="en"):
    result = quality_filter(rows(text, language=language))
    return result.dropped[0]["reason"] if result.dropped else None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("Give me high energy music for the boss fight", "leak_axis_name"),
        ("Something with lots of Nostalgia for the menu", "leak_axis_name"),
        ("Play something at 80 percent intensity please", "leak_number"),
        ("I want something calm, like a seven out of ten", "leak_number"),
        ("Make it calm with full-width digits ８０ in it", "leak_number"),
        ('Output {"energy": 90} for the boss fight please', "leak_axis_name"),
        ("Return the result as {calm: yes} for the menu", "leak_json"),
        ("calm", "too_short"),
        ("calm music for a long walk " * 20, "too_long"),
        ("静かで落ち着いた曲をお願いします", "wrong_language"),
    ],
)
def test_each_reason_drops_its_row(text, reason):
    assert reason_of(text) == reason


@pytest.mark.parametrize(
    "text, reason",
    [
        ("エネルギーが高い曲をお願いします", "leak_axis_name"),
        ("懐かしさのある曲をください", "leak_axis_name"),
        ("八十点くらいの明るい曲がいい", "leak_number"),
        ("曲", "too_short"),
        ("Please play some calm music tonight", "wrong_language"),
    ],
)
def test_japanese_rows_are_checked_in_japanese(text, reason):
    assert reason_of(text, language="ja") == reason


def test_clean_rows_are_kept_in_both_languages():
    assert reason_of("Something upbeat and sparkly for a summer festival, please!") is None
    assert reason_of("雨のカフェで流れるような、しっとりした温かい曲をお願いします", language="ja") is None


def test_exact_duplicates_after_normalisation_keep_the_first():
    result = quality_filter(rows("A calm, cozy tune for the rainy cafe!", "a calm cozy  tune for the RAINY cafe"))
    assert [r["id"] for r in result.kept] == ["r0"]
    assert result.dropped[0]["reason"] == "duplicate_exact"
    assert result.dropped[0]["detail"] == "same as r0"


def test_near_duplicates_are_dropped_but_different_requests_kept():
    base = "I would love a calm and gentle acoustic guitar piece for a quiet night in the snowy mountain village"
    result = quality_filter(rows(base, base + " now", "Give me a pounding synth track for the final boss battle"))
    assert [r["reason"] for r in result.dropped] == ["duplicate_near"]
    assert [r["id"] for r in result.kept] == ["r0", "r2"]


def test_report_counts_every_reason():
    result = quality_filter(rows("calm", "calm", "Play energy music for the boss fight"))
    assert set(result.report) == set(REASONS)
    assert result.report["too_short"] == 2
    assert result.report["leak_axis_name"] == 1
    assert sum(result.report.values()) == len(result.dropped) == 3


def test_progress_is_reported_up_to_the_total():
    seen = []
    quality_filter(rows(*[f"A calm piece for the tavern scene variant {chr(97 + i)}" for i in range(5)]),
                   on_progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (5, 5)


def test_normalise_folds_width_case_and_punctuation():
    assert normalise("ＣＡＬＭ,  Music!!") == "calm music"


def test_length_bounds_are_configurable():
    config = FilterConfig(min_chars={"en": 50, "ja": 5})
    result = quality_filter(rows("A calm piece for the tavern scene"), config=config)
    assert result.dropped[0]["reason"] == "too_short"
