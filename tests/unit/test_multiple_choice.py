"""multiple_choice task: parser, rows, train modes, metrics, presets, retrieval, demo data, clean and split."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.eval.metrics import rows_p95_latency_ms
from pipeline.tasks import multiple_choice as mc
from pipeline.tasks.registry import get_task

QUESTION = "Question: What is 7 + 5?\nA. 10\nB. 12\nC. 13\nD. 14"
COT_OUTPUT = "7 + 5 = 12. 12 is option B.\nAnswer: B"


def raw_row(output: str = COT_OUTPUT, mode: str = "cot", **extra) -> dict:
    return {"input": QUESTION, "output": output, "meta": {"mode": mode}, **extra}


# -- parser -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw, letter", [
    ("Answer: B", "B"),
    ("the answer is (B)", "B"),
    ("The correct answer is option D.", "D"),
    ("Final answer: **C**", "C"),
    ("答え: B", "B"),
    ("答え：Ｂ", "B"),
    ("正解はB", "B"),
    ("正解はＢです。", "B"),
    ("解答：（Ｅ）", "E"),
    ("答えはCです", "C"),
])
def test_it_reads_english_and_japanese_markers(raw, letter):
    assert mc.parse_answer(raw) == letter


def test_it_lets_the_last_marker_win_in_cot():
    raw = "At first the answer is A, since 7 + 5 looks like 10.\nBut 7 + 5 = 12, so 答え: Ｂ"
    assert mc.parse_answer(raw) == "B"
    assert mc.parse_answer("Answer: A\nOn reflection, Answer: C") == "C"


@pytest.mark.parametrize("raw, letter", [("B", "B"), (" (C) ", "C"), ("D.", "D"), ("Ｅ", "E"), ("[A]", "A")])
def test_it_reads_a_bare_letter_as_a_direct_answer(raw, letter):
    assert mc.parse_answer(raw) == letter


@pytest.mark.parametrize("raw", [
    "",
    "I think B",  # a letter in prose, no marker
    "7 + 5 = 12, so it is twelve.",
    "Answer: Because 7 + 5 = 12",  # a word, not a letter
    "Answer: F",  # outside A-E
    "Answer: A\nAnswer: F",  # the last marker is out of range: unreadable, no fallback
    "answer: b",  # lowercase letters are not answers
    "BC",
])
def test_it_returns_none_when_unreadable(raw):
    assert mc.parse_answer(raw) is None


def test_it_splits_reasoning_from_the_answer():
    assert mc.split_output(COT_OUTPUT) == ("7 + 5 = 12. 12 is option B.", "B")
    assert mc.split_output("Answer: C") == ("", "C")


def test_it_reads_options_in_several_styles():
    assert mc.parse_options("Q?\nA. one\nB) two\n(C) three\nＤ．four") == {"A": "one", "B": "two", "C": "three",
                                                                         "D": "four"}
    assert mc.question_stem(QUESTION) == "Question: What is 7 + 5?"


# -- validate_row ------------------------------------------------------------------------


def test_it_validates_a_row():
    row = mc.validate_row(raw_row(), 3)
    assert row == {"id": "mc000003", "text": QUESTION, "answer": "B", "output": COT_OUTPUT,
                   "meta": {"mode": "cot"}, "language": "en"}
    assert mc.validate_row(raw_row("答え：Ｃ", "direct", id="q1"), 0)["answer"] == "C"
    assert mc.validate_row({"input": "問題: 七足す五は？\nA. 十\nB. 十二", "output": "正解はB",
                            "meta": {"mode": "direct"}}, 0)["language"] == "ja"


@pytest.mark.parametrize("obj, problem", [
    (["not", "an", "object"], "JSON object"),
    ({"input": QUESTION}, 'missing key(s): "output", "meta"'),
    (raw_row(input=""), '"input" must be a non-empty string'),
    (raw_row(output=""), '"output" must be a non-empty string'),
    ({"input": QUESTION, "output": "Answer: B", "meta": "cot"}, '"meta" must be an object'),
    (raw_row(mode="essay"), '"meta.mode" must be "direct" or "cot"'),
    ({"input": QUESTION, "output": "Answer: B", "meta": {}}, '"meta.mode" must be "direct" or "cot"'),
    (raw_row("It is twelve.", "direct"), "no readable answer letter"),
    (raw_row("Answer: B", "cot"), "no reasoning before the answer"),
    (raw_row(id=["x"]), '"id" must be'),
    ({**raw_row(), "meta": {"mode": "cot", "language": "fr"}}, '"meta.language" must be one of'),
])
def test_it_names_the_problem_of_a_bad_row(obj, problem):
    with pytest.raises(ValueError) as error:
        mc.validate_row(obj, 1)
    assert problem in str(error.value)


# -- chat_messages and train modes -------------------------------------------------------------


def test_it_trains_direct_on_the_answer_only_even_for_a_cot_row():
    messages = mc.chat_messages(mc.validate_row(raw_row(), 0), with_answer=True, train_mode="direct")
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[0]["content"] == mc.SYSTEM_PROMPTS["direct"]
    assert messages[1]["content"] == QUESTION
    assert messages[2]["content"] == "Answer: B"


def test_it_trains_cot_on_reasoning_then_the_english_marker():
    row = mc.validate_row({**raw_row(), "output": "7 + 5 = 12。12は選択肢 B です。\n答え：Ｂ"}, 0)
    messages = mc.chat_messages(row, with_answer=True, train_mode="cot")
    assert messages[0]["content"] == mc.SYSTEM_PROMPTS["cot"]
    assert messages[2]["content"] == "7 + 5 = 12。12は選択肢 B です。\nAnswer: B"
    assert mc.parse_answer(messages[2]["content"]) == "B"


def test_it_refuses_cot_for_a_row_without_reasoning():
    row = mc.validate_row(raw_row("Answer: B", "direct", id="q7"), 0)
    with pytest.raises(ValueError, match="row q7: train mode 'cot' needs reasoning"):
        mc.chat_messages(row, with_answer=True, train_mode="cot")
    assert mc.chat_messages(row, with_answer=False, train_mode="cot")[0]["content"] == mc.SYSTEM_PROMPTS["cot"]


def test_it_follows_each_rows_mode_under_auto():
    cot_row = mc.validate_row(raw_row(), 0)
    direct_row = mc.validate_row(raw_row("Answer: B", "direct"), 1)
    assert mc.chat_messages(cot_row, True, "auto")[2]["content"] == COT_OUTPUT
    assert mc.chat_messages(direct_row, True, "auto")[2]["content"] == "Answer: B"
    assert mc.chat_messages(direct_row, True)[2]["content"] == "Answer: B"  # None means auto
    prompt = mc.chat_messages({"text": QUESTION}, with_answer=False, train_mode="auto")
    assert len(prompt) == 2 and prompt[0]["content"] == mc.SYSTEM_PROMPTS["direct"]


def test_it_rejects_an_unknown_train_mode():
    with pytest.raises(ValueError, match="train mode must be one of direct, cot, auto"):
        mc.chat_messages(mc.validate_row(raw_row(), 0), True, "sft")


# -- metrics and charts -------------------------------------------------------------------------


EVAL_ROWS = [
    {"answer": "A", "parsed": "A", "raw": "Answer: A", "latency_ms": 10.0, "meta": {"mode": "direct"},
     "tokens_decoded": 3},
    {"answer": "B", "parsed": "C", "raw": "Answer: C", "latency_ms": 20.0, "meta": {"mode": "direct"},
     "tokens_decoded": 3},
    {"answer": "C", "parsed": "C", "raw": "x" * 40 + " Answer: C", "latency_ms": 30.0, "meta": {"mode": "cot"},
     "tokens_decoded": 14},
    {"answer": "D", "parsed": None, "raw": "x" * 30, "latency_ms": 40.0, "meta": {"mode": "cot"},
     "tokens_decoded": 10},
    {"answer": "A", "parsed": "A", "raw": "A", "latency_ms": 50.0},
]


def test_it_computes_metrics_by_hand():
    result = mc.metrics(EVAL_ROWS)
    assert result["accuracy"] == pytest.approx(3 / 5)
    assert result["accuracy/direct"] == pytest.approx(1 / 2)
    assert result["accuracy/cot"] == pytest.approx(1 / 2)
    assert result["invalid_rate"] == pytest.approx(1 / 5)
    assert result["output_chars/direct"] == pytest.approx(9.0)
    assert result["output_chars/cot"] == pytest.approx((50 + 30) / 2)
    assert result["output_tokens/direct"] == pytest.approx(3.0)
    assert result["output_tokens/cot"] == pytest.approx(12.0)
    # Latency is the runner's (pipeline.eval), for every task; the task declares its direction.
    assert "p95_inference_latency_ms" not in result
    assert rows_p95_latency_ms(EVAL_ROWS) == 50.0  # nearest rank: the 5th of 5
    assert set(result) | {"p95_inference_latency_ms"} == set(mc.TASK.higher_is_better)


def test_it_reports_none_for_a_mode_without_rows_and_refuses_no_rows():
    result = mc.metrics([row for row in EVAL_ROWS if row.get("meta", {}).get("mode") != "cot"])
    assert result["accuracy/cot"] is None and result["output_chars/cot"] is None
    assert mc.metrics([{"answer": "A", "parsed": "A", "raw": "A", "latency_ms": 1.0}])["output_tokens/direct"] is None
    with pytest.raises(ValueError):
        mc.metrics([])


def test_it_charts_accuracy_by_mode_and_letter_counts():
    data = mc.charts(EVAL_ROWS)
    assert data["accuracy_by_mode"] == {"modes": ["all", "direct", "cot"], "accuracy": [0.6, 0.5, 0.5],
                                        "examples": [5, 2, 2]}
    assert data["answer_letters"] == {"letters": list("ABCDE"), "gold": [2, 1, 1, 1, 0],
                                      "predicted": [2, 0, 2, 0, 0], "invalid": 1}


# -- the task object, presets, retrieval, baseline ---------------------------------------------


def test_it_is_registered_and_has_the_four_presets():
    task = get_task("multiple_choice")
    assert task is mc.TASK and task.name == "multiple_choice" and task.languages == ("en", "ja")
    assert task.headline_metric in task.higher_is_better
    presets = {preset.key: preset.params for preset in task.presets}
    assert list(presets) == ["A", "B", "C", "D"]
    assert [presets[key]["train_mode"] for key in "ABCD"] == ["direct", "cot", "auto", "auto"]
    assert [presets[key]["retrieval_context"] for key in "ABCD"] == [False, False, False, True]


def test_it_puts_the_right_passage_first_for_demo_lore_questions():
    lore = [row for language in ("en", "ja") for row in mc.demo_rows(300, 5, language)
            if row["meta"]["family"] == "lore"]
    assert len(lore) >= 20
    index = mc.PassageIndex(mc.demo_passages())
    for row in lore:
        kingdom = next(english[0] for english, japanese in mc.KINGDOMS
                       if english[0] in row["text"] or japanese[0] in row["text"])
        best = index.search(mc.question_stem(row["text"]), top_k=3)[0]
        assert best["id"] == f"lore-{kingdom.split()[0].lower()}-{row['language']}", row["text"]


def test_preset_d_prepends_context_once_and_only_when_asked():
    question = next(row for row in mc.demo_rows(60, 1, "en") if row["meta"]["family"] == "lore")
    preset_d = next(p for p in mc.TASK.presets if p.key == "D").params
    prepared = mc.TASK.prepare_rows([question], preset_d)[0]
    assert prepared["text"].startswith("Context: In Aetheria, the ")
    assert prepared["text"].endswith(question["text"])
    assert len(prepared["context"]) == 1
    assert mc.TASK.prepare_rows([prepared], preset_d)[0]["text"] == prepared["text"]
    assert mc.TASK.prepare_rows([question], {"retrieval_context": False})[0] == question
    assert "context" in mc.chat_messages(prepared, False, "auto")[0]["content"]


def test_the_rule_baseline_reads_options_and_uses_retrieved_context():
    baseline = mc.TASK.rule_baseline()
    assert (baseline.name, baseline.model_id, baseline.adapter) == ("rule_baseline", "rules", None)
    text = "Context: The capital of the Ember Kingdom is Ashford.\n\nQuestion: What is its capital?\n" \
           "A. Whitmere\nB. Ashford\nC. Coralport\nD. Galecrest"
    predictions = baseline.predict([text, QUESTION, "no options here"])
    assert [p.raw for p in predictions] == ["Answer: B", "Answer: A", ""]  # no overlap: the first option
    assert all(p.latency_ms >= 0 for p in predictions)
    assert mc.parse_answer(predictions[0].raw) == "B"


# -- demo data, clean, split --------------------------------------------------------------------


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_demo_generator_is_deterministic_and_passes_clean(language):
    progress = []
    rows = mc.demo_rows(200, 7, language, on_progress=lambda done, total: progress.append((done, total)))
    assert rows == mc.demo_rows(200, 7, language)
    assert rows != mc.demo_rows(200, 8, language)
    assert len(rows) == 200 and progress[-1] == (200, 200)
    assert {row["language"] for row in rows} == {language}
    assert set(Counter(row["meta"]["mode"] for row in rows)) == {"direct", "cot"}
    assert set(Counter(row["meta"]["family"] for row in rows)) == {"arithmetic", "antonym", "longest_word", "lore"}
    for row in rows:
        assert row == mc.validate_row({"id": row["id"], "input": row["text"], "output": row["output"],
                                       "meta": row["meta"]}, 0)
        assert mc.chat_messages(row, True, "auto")[2]["content"].endswith(f"Answer: {row['answer']}")
    result = mc.TASK.clean(rows, {})
    assert result.dropped == [] and len(result.kept) == 200


def test_the_demo_generator_rejects_unknown_languages():
    with pytest.raises(ValueError, match="unknown language"):
        mc.demo_rows(5, 0, "fr")


def test_clean_drops_rows_with_reasons():
    def row(text, answer="B", output="Answer: B"):
        return {"id": text[:12], "text": text, "answer": answer, "output": output, "meta": {"mode": "direct"}}

    rows = [
        row(QUESTION),
        row("Question:  what is 7 + 5?\nA. 10\nB. 12\nC. 13\nD. 14"),  # same after folding case and spacing
        row("Q?"),
        row("Question: " + "long " * 500 + "\nA. x\nB. y"),
        row(QUESTION.replace("7", "8"), output="x" * 3000 + " Answer: B"),
        row("Question: no options at all?"),
        row("Question: a gap?\nA. one\nC. three"),
        row(QUESTION.replace("7", "9"), answer="E", output="Answer: E"),
    ]
    result = mc.clean(rows, {})
    assert [r["id"] for r in result.kept] == [QUESTION[:12]]
    assert [r["reason"] for r in result.dropped] == ["duplicate_exact", "too_short", "too_long", "output_too_long",
                                                     "missing_options", "missing_options", "answer_not_in_options"]
    assert set(r["reason"] for r in result.dropped) <= set(mc.DROP_REASONS)
    assert len(mc.clean(rows[2:3], {"min_chars": 1}).kept) == 0  # "Q?" has no options either
    with pytest.raises(ValueError, match="unknown clean option"):
        mc.clean(rows, {"max_words": 3})


def test_split_is_stratified_by_mode_and_seeded():
    rows = mc.demo_rows(300, 3, "en")
    splits = mc.TASK.split(rows, seed=11)
    assert splits == mc.split(rows, 11)
    assert sorted(r["id"] for part in splits.values() for r in part) == sorted(r["id"] for r in rows)
    modes = Counter(row["meta"]["mode"] for row in rows)
    for mode, count in modes.items():
        assert sum(r["meta"]["mode"] == mode for r in splits["train"]) == round(count * 0.8)
        assert sum(r["meta"]["mode"] == mode for r in splits["valid"]) == round(count * 0.1)
    with pytest.raises(ValueError, match="fractions"):
        mc.split(rows, 0, (0.5, 0.5, 0.5))
