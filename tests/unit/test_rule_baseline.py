"""The lexicon baseline: strict JSON, the right axes, negation and degree words, en and ja."""

import pytest

from pipeline.tasks.hidden_params import AXES, parse
from pipeline.tasks.hidden_params.rules import RuleBaseline, predict_values


def values(text):
    return dict(zip(AXES, predict_values(text)))


def test_it_is_a_predictor_named_like_the_seed():
    predictor = RuleBaseline()
    assert (predictor.name, predictor.model_id, predictor.adapter) == ("rule_baseline", "rules", None)


def test_every_output_passes_the_strict_parser():
    texts = [
        "a calm acoustic guitar lullaby",
        "激しいメタル",
        "",
        "🎸🔥!!!",
        "not not not without no",
        "super really really extremely loud fast aggressive heavy metal banger " * 20,
        "ＥＤＭっぽくない、ｼﾝｾなしの曲",
    ]
    predictions = RuleBaseline().predict(texts)
    assert len(predictions) == len(texts)
    for prediction in predictions:
        assert parse(prediction.raw) is not None, prediction.raw
        assert 0 <= prediction.latency_ms < 1000


def test_an_empty_or_unknown_request_is_neutral():
    assert predict_values("") == (50,) * 6
    assert predict_values("please, thank you") == (50,) * 6


def test_it_is_deterministic():
    text = "a cozy 80s synthwave track, not too fast"
    assert RuleBaseline().predict([text])[0].raw == RuleBaseline().predict([text])[0].raw


def test_a_calm_acoustic_lullaby():
    result = values("a calm acoustic guitar lullaby")
    assert result["energy"] < 50
    assert result["acousticness"] > 50


def test_intense_metal_in_japanese():
    assert values("激しいメタル")["energy"] > 50


@pytest.mark.parametrize(
    "text, axis, side",
    [
        ("dark minor-key dungeon theme", "brightness", -1),
        ("bright, sunny and cheerful", "brightness", +1),
        ("glitchy techno with lots of synths", "acousticness", -1),
        ("an intricate prog piece with odd time signatures", "complexity", +1),
        ("simple, repetitive loop", "complexity", -1),
        ("nostalgic, like an old cassette", "nostalgia", +1),
        ("sleek futuristic cyberpunk", "nostalgia", -1),
        ("a warm, cozy fireplace tune", "warmth", +1),
        ("cold, sterile and clinical", "warmth", -1),
        ("明るくて爽やかな曲", "brightness", +1),
        ("暗くて不気味なダンジョン", "brightness", -1),
        ("ピアノとストリングスの生演奏", "acousticness", +1),
        ("懐かしい昭和歌謡", "nostalgia", +1),
        ("近未来的なサイバーパンク", "nostalgia", -1),
        ("温かくてほっこりする", "warmth", +1),
        ("シンプルなループ", "complexity", -1),
        ("140 bpm", "energy", +1),
        ("70 bpm", "energy", -1),
        ("1980s", "nostalgia", +1),
    ],
)
def test_clear_requests_move_the_right_axis(text, axis, side):
    assert (values(text)[axis] - 50) * side > 0, values(text)


@pytest.mark.parametrize(
    "text, axis, side",
    [
        ("not fast", "energy", -1),
        ("without synths", "acousticness", +1),
        ("no synths or drum machines", "acousticness", +1),
        ("anything but dark", "brightness", +1),
        ("激しくない", "energy", -1),
        ("シンセなしで", "acousticness", +1),
        ("電子音は使わない", "acousticness", +1),
        ("光がまったく差さない", "brightness", -1),
    ],
)
def test_negation_flips_a_term(text, axis, side):
    assert (values(text)[axis] - 50) * side > 0, values(text)


def test_not_too_is_milder_than_not_at_all():
    at_all = values("not fast at all")["energy"]
    too = values("not too fast")["energy"]
    assert at_all < too < 50
    assert values("全然激しくない")["energy"] < values("激しすぎない")["energy"] < 50


def test_degree_words_scale_a_term():
    very, plain, slightly = (values(f"{degree}dark")["brightness"] for degree in ("very ", "", "slightly "))
    assert very < plain < slightly < 50
    assert values("めちゃくちゃ暗い")["brightness"] < values("暗い")["brightness"] < values("暗めの")["brightness"] < 50


def test_degree_words_do_not_leak_to_the_next_term():
    assert values("very dark dungeon") == values("very dark, dungeon")


def test_a_clause_break_ends_a_negation():
    assert values("no synths, just fast")["energy"] > 50
    assert values("静かで暗くない")["energy"] < 50  # 静か is not negated by 暗くない


def test_plurals_and_spellings_match_the_same_term():
    assert values("synths") == values("synth")
    assert values("Lo-Fi") == values("lo fi") == values("ＬＯＦＩ")


def test_a_word_that_only_contains_a_term_does_not_fire():
    assert predict_values("グループで歌う") == (50,) * 6  # not ループ
    assert predict_values("レベル1") == (50,) * 6  # not ベル
