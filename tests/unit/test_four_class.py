"""four_class: parser, metrics checked by hand, cleaning reasons, stratified split, demo data and the rule baseline."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from pipeline.eval.metrics import rows_p95_latency_ms
from pipeline.tasks.four_class import (
    CLEAN_OPTIONS,
    LABELS,
    SYSTEM_PROMPT,
    TASK,
    keyword_label,
    parse,
    quality_score,
)
from pipeline.tasks.registry import get_task, task_names
from pipeline.tasks.text import ja_ratio

# gold, predicted (None = unreadable output), latency: the worked example of the metric tests.
HAND_ROWS = [
    ("ALLOW", "ALLOW", 1), ("ALLOW", "ALLOW", 2), ("ALLOW", "DENY", 3),
    ("ESCALATION", "ESCALATION", 4), ("ESCALATION", "ALLOW", 5),
    ("DENY", "DENY", 6), ("DENY", None, 7),
    ("REFUSE", "REFUSE", 8), ("REFUSE", "ALLOW", 9), ("REFUSE", "REFUSE", 10),
]


def eval_rows(triples):
    return [{"id": f"r{index}", "answer": gold, "parsed": predicted, "raw": predicted or "no idea",
             "latency_ms": float(latency)} for index, (gold, predicted, latency) in enumerate(triples)]


def row(row_id: str, text: str, answer: str = "ALLOW", language: str = "en") -> dict:
    return {"id": row_id, "text": text, "answer": answer, "language": language}


GOOD_EN = "Anyone up for the weekly raid tonight? We still need a healer and somebody who can tank."
GOOD_JA = "今夜のレイドに行ける人いますか？ヒーラーとタンクを募集しています。初心者も歓迎なので、気軽に声をかけてください！"


def test_it_is_registered_and_describes_itself():
    assert "four_class" in task_names()
    assert get_task("four_class") is TASK
    assert TASK.headline_metric == "macro_f1" and TASK.languages == ("en", "ja")
    metrics = TASK.metrics(eval_rows(HAND_ROWS))
    # The runner adds p95_inference_latency_ms to every task's metrics; the task declares its direction.
    assert set(TASK.higher_is_better) == set(metrics) | {"p95_inference_latency_ms"}
    assert TASK.higher_is_better["macro_f1"] and not TASK.higher_is_better["false_allow_rate"]
    assert {preset.key for preset in TASK.presets} == {"sft", "cls_head"}


@pytest.mark.parametrize("raw, label", [
    ("DENY", "DENY"),
    ("  deny \n", "DENY"),
    ("**Refuse**.", "REFUSE"),
    ('"Escalation"', "ESCALATION"),
    ("ＡＬＬＯＷ", "ALLOW"),
    ("Label: ESCALATION", "ESCALATION"),
    ("ラベル：DENY", "DENY"),
    ("DENY. DENY", "DENY"),
])
def test_the_parser_reads_a_label_wrapped_in_what_chat_models_add(raw, label):
    assert parse(raw) == label


@pytest.mark.parametrize("raw", ["", "ALLOW or DENY", "I refuse to answer that", "ALLOWED", "SAFE", "label 2", None])
def test_the_parser_refuses_to_guess(raw):
    assert parse(raw) is None


def test_metrics_match_a_hand_computed_example():
    metrics = TASK.metrics(eval_rows(HAND_ROWS))

    assert metrics["accuracy"] == pytest.approx(6 / 10)
    assert metrics["invalid_rate"] == pytest.approx(1 / 10)
    # 7 items are not ALLOW (rows 4-10); 2 of them (ESCALATION row 5, REFUSE row 9) were predicted ALLOW.
    assert metrics["false_allow_rate"] == pytest.approx(2 / 7)
    assert metrics["precision/ALLOW"] == pytest.approx(2 / 4)
    assert metrics["recall/ALLOW"] == pytest.approx(2 / 3)
    assert metrics["f1/ALLOW"] == pytest.approx(4 / 7)
    assert (metrics["precision/ESCALATION"], metrics["recall/ESCALATION"]) == (pytest.approx(1.0), pytest.approx(0.5))
    assert metrics["f1/ESCALATION"] == pytest.approx(2 / 3)
    # The unreadable DENY output is a false negative of DENY.
    assert (metrics["precision/DENY"], metrics["recall/DENY"], metrics["f1/DENY"]) == (0.5, 0.5, 0.5)
    assert metrics["f1/REFUSE"] == pytest.approx(0.8)
    assert metrics["macro_f1"] == pytest.approx((4 / 7 + 2 / 3 + 0.5 + 0.8) / 4)
    # Latency is the runner's (pipeline.eval), computed from the same rows.
    assert "p95_inference_latency_ms" not in metrics
    assert rows_p95_latency_ms(eval_rows(HAND_ROWS)) == 10.0


def test_undefined_scores_are_none_and_left_out_of_macro_f1():
    metrics = TASK.metrics(eval_rows([("ALLOW", "ALLOW", 1), ("ALLOW", "ALLOW", 2)]))

    assert metrics["false_allow_rate"] is None
    assert metrics["precision/DENY"] is None and metrics["recall/DENY"] is None and metrics["f1/DENY"] is None
    assert metrics["macro_f1"] == 1.0 and metrics["accuracy"] == 1.0
    json.dumps(metrics)


def test_metrics_parse_the_raw_output_when_a_row_has_no_parsed_value():
    rows = [{"answer": "DENY", "raw": " deny.", "latency_ms": 1.0}, {"answer": "ALLOW", "raw": "?", "latency_ms": 2.0}]
    metrics = TASK.metrics(rows)
    assert metrics["accuracy"] == 0.5 and metrics["invalid_rate"] == 0.5


def test_metrics_reject_a_gold_answer_that_is_no_label():
    with pytest.raises(ValueError, match="gold answers must be one of"):
        TASK.metrics(eval_rows([("MAYBE", "ALLOW", 1)]))


def test_the_confusion_chart_has_gold_rows_predicted_columns_and_unreadable_counts():
    chart = TASK.charts(eval_rows(HAND_ROWS))["confusion"]
    assert chart["labels"] == list(LABELS)
    assert chart["matrix"] == [[2, 0, 1, 0], [1, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 2]]
    assert chart["invalid"] == [0, 0, 1, 0]


def test_quality_score_is_one_for_chat_and_low_for_spam():
    assert quality_score(GOOD_EN) == 1.0
    assert quality_score(GOOD_JA) == 1.0
    assert quality_score("lol " * 30) < 0.5
    assert quality_score("🔥🔥🔥 $$$ 100000 !!! " * 4 + "gold") < 0.5


def test_cleaning_drops_each_bad_row_with_its_reason():
    mostly_english = "This whole message is written in English although the row says ja: こんにちは and bye."
    rows = [
        row("good-en", GOOD_EN),
        row("good-ja", GOOD_JA, language="ja"),
        row("short", "gg ez", answer="DENY"),
        row("long", "x" * 5001),
        row("latin-ja", mostly_english, language="ja"),
        row("spam", "buy gold " * 12, answer="DENY"),
        row("dup", "  ANYONE up for the weekly raid tonight?? We still need a healer, and somebody who can tank!  "),
    ]

    result = TASK.clean(rows, {})

    assert [kept["id"] for kept in result.kept] == ["good-en", "good-ja"]
    reasons = {dropped["id"]: dropped["reason"] for dropped in result.dropped}
    assert reasons == {"short": "too_short", "long": "too_long", "latin-ja": "wrong_language",
                       "spam": "low_quality", "dup": "duplicate_exact"}
    details = {dropped["id"]: dropped["detail"] for dropped in result.dropped}
    assert "< 0.3" in details["latin-ja"] and "good-en" in details["dup"] and "MD5" in details["dup"]


def test_a_japanese_row_passes_at_a_ratio_of_at_least_030():
    mixed = "レベル上げを手伝ってくれる人いますか？ 今夜の raid boss drops the Frost Bow sometimes, please come!!"

    assert 0.3 <= ja_ratio(mixed) < 0.5
    assert [kept["id"] for kept in TASK.clean([row("mixed", mixed, language="ja")], {}).kept] == ["mixed"]
    assert TASK.clean([row("mixed", mixed, language="ja")], {"min_ja_ratio": 0.5}).dropped[0]["reason"] == (
        "wrong_language")


def test_cleaning_options_switch_checks_off_and_unknown_ones_are_refused():
    rows = [row("a", GOOD_EN), row("b", GOOD_EN.upper()), row("spam", "buy gold " * 12)]
    assert len(TASK.clean(rows, {"dedup_md5": False, "min_quality": 0.0}).kept) == 3
    assert set(CLEAN_OPTIONS) == {"min_chars", "max_chars", "min_ja_ratio", "min_quality", "dedup_md5"}
    with pytest.raises(ValueError, match="unknown cleaning option"):
        TASK.clean(rows, {"min_quality_score": 0.2})


def test_the_split_keeps_each_label_in_proportion_and_loses_no_row():
    counts = {"ALLOW": 200, "DENY": 100, "REFUSE": 60, "ESCALATION": 40}
    rows = [row(f"{label}-{index}", f"text {label} {index}", answer=label)
            for label, count in counts.items() for index in range(count)]

    splits = TASK.split(rows, seed=3)

    for name, share in (("train", 0.8), ("valid", 0.1), ("test", 0.1)):
        assert Counter(r["answer"] for r in splits[name]) == {label: count * share for label, count in counts.items()}
    ids = [r["id"] for part in splits.values() for r in part]
    assert sorted(ids) == sorted(r["id"] for r in rows)
    assert TASK.split(rows, seed=3) == splits
    assert TASK.split(rows, seed=4)["test"] != splits["test"]
    assert len({r["answer"] for r in splits["train"][:20]}) > 1  # shuffled, not grouped by label


def test_the_split_refuses_bad_fractions():
    with pytest.raises(ValueError, match="summing to 1"):
        TASK.split([], seed=0, fractions=(0.8, 0.1, 0.2))


def test_demo_rows_are_deterministic_balanced_varied_and_survive_cleaning():
    rows = TASK.demo_rows(400, seed=7, language="mixed")

    assert rows == TASK.demo_rows(400, seed=7, language="mixed")
    assert [r["text"] for r in rows] != [r["text"] for r in TASK.demo_rows(400, seed=8, language="mixed")]
    assert Counter(r["answer"] for r in rows) == {label: 100 for label in LABELS}
    assert {r["language"] for r in rows} == {"en", "ja"}
    assert len({r["id"] for r in rows}) == 400
    lengths = [len(r["text"]) for r in rows]
    assert 50 <= min(lengths) and max(lengths) <= 5000 and max(lengths) > 500
    result = TASK.clean(rows, {})
    assert result.dropped == [] and len(result.kept) == 400
    assert all(TASK.validate_row(r, index)["answer"] == r["answer"] for index, r in enumerate(rows))


def test_demo_rows_follow_the_language_asked_for():
    assert {r["language"] for r in TASK.demo_rows(40, seed=1, language="ja")} == {"ja"}
    with pytest.raises(ValueError, match="language must be one of"):
        TASK.demo_rows(4, seed=1, language="fr")


def test_the_rule_baseline_beats_chance_on_demo_data_and_is_a_predictor():
    rows = TASK.demo_rows(400, seed=11, language="mixed")
    baseline = TASK.rule_baseline()

    predictions = baseline.predict([r["text"] for r in rows])
    scored = [{"answer": r["answer"], "parsed": TASK.parse(p.raw), "latency_ms": p.latency_ms}
              for r, p in zip(rows, predictions)]
    metrics = TASK.metrics(scored)

    assert (baseline.name, baseline.model_id, baseline.adapter) == ("rule_baseline", "rules", None)
    assert metrics["invalid_rate"] == 0.0
    assert metrics["accuracy"] > 0.5 and metrics["macro_f1"] > 0.5  # chance is 0.25
    assert all(p.latency_ms >= 0 for p in predictions)


@pytest.mark.parametrize("text, label", [
    ("we finally killed the boss, gg", "ALLOW"),
    ("I want to kill myself after this match", "ESCALATION"),
    ("you are a useless idiot", "DENY"),
    ("where can I download an aimbot", "REFUSE"),
    ("お前本当にうざい、死ね", "DENY"),
    ("チートのやり方を教えて", "REFUSE"),
    ("もう死にたい", "ESCALATION"),
    ("the bottle item is great", "ALLOW"),  # "bot" matches whole words only
])
def test_keyword_rules_read_english_and_japanese(text, label):
    assert keyword_label(text) == label


def test_validate_row_builds_a_row_and_names_each_problem():
    assert TASK.validate_row({"text": GOOD_JA, "label": " deny "}, 3) == {
        "id": "row-3", "text": GOOD_JA, "answer": "DENY", "language": "ja"}
    assert TASK.validate_row({"id": 9, "text": GOOD_EN, "label": "ALLOW", "language": "en"}, 0)["id"] == "9"
    problems = [
        (["text", "label"], "expected a JSON object"),
        ({"text": GOOD_EN}, 'missing "label"'),
        ({"label": "DENY"}, 'missing "text"'),
        ({"text": 5, "label": "DENY"}, '"text" must be a string, got a number'),
        ({"text": "  ", "label": "DENY"}, '"text" is empty'),
        ({"text": GOOD_EN, "label": "BLOCK"}, "\"label\" must be one of ALLOW, ESCALATION, DENY, REFUSE, got 'BLOCK'"),
        ({"text": GOOD_EN, "label": 2}, '"label" must be one of .*got a number'),
        ({"text": GOOD_EN, "label": "DENY", "language": "fr"}, '"language" must be one of en, ja'),
    ]
    for obj, message in problems:
        with pytest.raises(ValueError, match=message):
            TASK.validate_row(obj, 1)


def test_chat_messages_put_the_label_alone_in_the_answer():
    messages = TASK.chat_messages({"text": GOOD_EN, "answer": "ALLOW"}, with_answer=True)
    assert messages == [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": GOOD_EN},
                        {"role": "assistant", "content": "ALLOW"}]
    assert len(TASK.chat_messages({"text": GOOD_EN}, with_answer=False)) == 2
    assert all(label in SYSTEM_PROMPT for label in LABELS) and "label only" in SYSTEM_PROMPT
    with pytest.raises(ValueError, match="only in mode 'sft'"):
        TASK.chat_messages({"text": GOOD_EN}, with_answer=False, train_mode="cot")
