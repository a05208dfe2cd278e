"""Package data of the task packages: every file parses and is not empty, and a malformed line names file and line."""

from __future__ import annotations

import re

import pytest

from pipeline.tasks.datafiles import (
    DataFileError,
    check_placeholders,
    expect_sections,
    load_presets,
    load_sections,
    parse_presets,
    parse_sections,
    read_text,
)
from pipeline.tasks.four_class import demo as fc_demo
from pipeline.tasks.four_class import rules as fc_rules
from pipeline.tasks.hidden_params import rules as hp_rules
from pipeline.tasks.hidden_params.schema import AXES
from pipeline.tasks.hidden_params.teacher import banks, english, japanese
from pipeline.tasks.multiple_choice import demo as mc_demo

FC = "pipeline.tasks.four_class"
MC = "pipeline.tasks.multiple_choice"
HP = "pipeline.tasks.hidden_params"


def sections(text: str):
    return parse_sections(text, "test.txt")


def names_line(error: pytest.ExceptionInfo, line: int) -> None:
    assert isinstance(error.value, DataFileError)
    assert str(error.value).startswith(f"test.txt, line {line}: "), str(error.value)


# -- the shared format ------------------------------------------------------------------


def test_the_format_keeps_order_repeats_and_quoted_edges():
    parsed = sections('# comment\n\n[first  one]\nb\na\nb\n"hey, "\n""\n[second]\nx | " y" | z\n')
    assert list(parsed) == ["first one", "second"]
    assert [entry.text for entry in parsed["first one"]] == ["b", "a", "b", "hey, ", ""]
    assert [entry.line for entry in parsed["first one"]] == [4, 5, 6, 7, 8]
    assert parsed["second"][0].fields(3) == ["x", " y", "z"]
    assert parsed.header_lines == {"first one": 3, "second": 9}


@pytest.mark.parametrize("text, line, message", [
    ("orphan\n[a]\nx\n", 1, "before any [section] header"),
    ("[a]\nx\n[a\n", 3, "bad section header"),
    ("[a]\nx\n[]\n", 3, "bad section header"),
    ("[a]\nx\n\n[a]\ny\n", 4, "appears twice"),
])
def test_the_format_names_the_line_it_cannot_read(text, line, message):
    with pytest.raises(DataFileError, match=re.escape(message)) as error:
        sections(text)
    names_line(error, line)


def test_a_bad_quoted_entry_a_field_count_and_unknown_or_empty_sections_are_errors():
    with pytest.raises(DataFileError, match="bad quoted entry") as error:
        sections('[a]\nx\n"unterminated\\"\n')["a"][1].text
    names_line(error, 3)
    parsed = sections("[a]\nx | y | z\n")
    with pytest.raises(DataFileError, match="expected 2 fields") as error:
        parsed["a"][0].fields(2)
    names_line(error, 2)
    with pytest.raises(DataFileError, match=r"unknown section \[b\]") as error:
        expect_sections(sections("[a]\nx\n[b]\ny\n"), ["a"])
    names_line(error, 3)
    with pytest.raises(DataFileError, match=r"section \[a\] has no entries") as error:
        expect_sections(sections("[a]\n[b]\ny\n"), ["a", "b"])
    names_line(error, 1)
    with pytest.raises(DataFileError, match=r"test.txt: missing section\(s\) \[c\]"):
        expect_sections(sections("[a]\nx\n"), ["a", "c"])


def test_a_placeholder_a_template_does_not_know_is_an_error():
    parsed = sections("[frames]\nplay {d}\nplay {dd}\n")
    with pytest.raises(DataFileError, match=r"unknown placeholder\(s\) \{dd\}") as error:
        check_placeholders(parsed, "frames", ("d",))
    names_line(error, 3)


# -- four_class ----------------------------------------------------------------------------


def test_the_four_class_keyword_lists_parse():
    keywords = fc_rules.parse_keywords(load_sections(FC, "data/keywords.txt"))
    assert list(keywords) == ["ESCALATION", "DENY", "REFUSE"]
    assert all(len(words) >= 10 for words in keywords.values())
    assert "aimbot" in keywords["REFUSE"] and "チート" in keywords["REFUSE"]


def test_a_malformed_keyword_file_names_the_line():
    text = "".join(f"[{language} {label}]\nword\n" for language in ("en", "ja")
                   for label in ("ESCALATION", "DENY", "REFUSE"))
    assert fc_rules.parse_keywords(sections(text))["DENY"] == ("word", "word")
    with pytest.raises(DataFileError, match=r"unknown section \[en ALLOW\]") as error:
        fc_rules.parse_keywords(sections(text + "[en ALLOW]\nhello\n"))
    names_line(error, 13)
    with pytest.raises(DataFileError, match="empty keyword") as error:
        fc_rules.parse_keywords(sections(text.replace("[ja DENY]\nword", '[ja DENY]\n" "')))
    names_line(error, 10)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_four_class_demo_banks_parse(language):
    bank = fc_demo.parse_demo(load_sections(FC, f"data/demo_{language}.txt"))
    assert set(bank.cores) == {"ALLOW", "ESCALATION", "DENY", "REFUSE"}
    assert all(len(texts) >= 10 for texts in bank.cores.values())
    assert len(bank.chatter) >= 20 and list(bank.slots) == list(fc_demo.SLOTS)


def test_a_demo_template_with_an_unknown_slot_names_the_line():
    text = read_text(FC, "data/demo_en.txt").replace("[chatter]\n", "[chatter]\nI met {villain} today.\n", 1)
    line = text.splitlines().index("I met {villain} today.") + 1
    with pytest.raises(DataFileError, match=r"unknown placeholder\(s\) \{villain\}") as error:
        fc_demo.parse_demo(parse_sections(text, "test.txt"))
    names_line(error, line)


# -- multiple_choice ------------------------------------------------------------------------


def test_the_multiple_choice_corpora_parse():
    kingdoms = mc_demo.parse_kingdoms(load_sections(MC, "data/kingdoms.txt"))
    assert len(kingdoms) == 8 and all(len(en) == len(ja) == 5 for en, ja in kingdoms)
    questions, facts = mc_demo.parse_lore(load_sections(MC, "data/lore.txt"))
    assert all(set(table[language]) == set(mc_demo.LORE_ATTRIBUTES) for table in (questions, facts)
               for language in ("en", "ja"))
    templates, general = mc_demo.parse_passages(load_sections(MC, "data/passages.txt"))
    assert set(templates) == {"en", "ja"} and all(len(texts) == 3 for texts in general.values())
    antonyms = mc_demo.parse_antonyms(load_sections(MC, "data/antonyms.txt"))
    assert all(len(pairs) >= 10 for pairs in antonyms.values())
    words = mc_demo.parse_words(load_sections(MC, "data/words.txt"))
    assert all(len(pool) >= 10 for pool in words.values())


@pytest.mark.parametrize("parser, text, line, message", [
    (mc_demo.parse_kingdoms, "[en]\nA | b | c | d | e\n[ja]\nA | b | c | d\n", 4, "expected 5 fields"),
    (mc_demo.parse_kingdoms, "[en]\nA | b | c | d | e\nB | b | c | d | e\n[ja]\nA | b | c | d | e\n", 4,
     "[ja] lists 1 kingdoms but [en] 2"),
    (mc_demo.parse_lore, "".join(f"[{kind} {language}]\ncapital | x\nguardian | x\nfounder | x\nexport | x\n"
                                 for kind in ("questions", "facts") for language in ("en", "ja"))
     .replace("export | x", "exports | x", 1), 5, "unknown attribute 'exports'"),
    (mc_demo.parse_passages, "[kingdom en]\nx\ny\n[kingdom ja]\nx\n[general en]\nx\n[general ja]\nx\n", 3,
     "holds one template"),
    (mc_demo.parse_antonyms, "[en]\nhot | cold\nbig\n[ja]\n暑い | 寒い\n", 3, "expected 2 fields"),
    (mc_demo.parse_words, "[en]\na\nbb\nccc\n[ja]\nア\nイイ\nウウウ\nエエエエ\n", 1, "at least four different lengths"),
])
def test_a_malformed_multiple_choice_corpus_names_the_line(parser, text, line, message):
    with pytest.raises(DataFileError, match=re.escape(message)) as error:
        parser(sections(text))
    names_line(error, line)


@pytest.mark.parametrize("package, keys", [
    (HP, ["reg_head", "sft"]), (FC, ["sft", "cls_head"]), (MC, ["A", "B", "C", "D"]),
])
def test_the_presets_parse(package, keys):
    presets = load_presets(package)
    assert [preset.key for preset in presets] == keys
    assert all(preset.label for preset in presets)


def test_preset_params_keep_their_types():
    assert load_presets(MC)[3].params == {"train_mode": "auto", "retrieval_context": True, "retrieval_top_k": 1,
                                          "max_seq_length": 768}
    assert load_presets(FC)[1].params == {"trainer": "cls_head", "focal_gamma": 2.0, "class_weights": True}


@pytest.mark.parametrize("text, message", [
    ('[[preset]]\nkey = "A"\nlabel = "A"\nparams = {train_mode = }\n', "line 4"),
    ('[[preset]]\nkey = "A"\n', '"key" and "label" must be non-empty strings'),
    ('[[preset]]\nkey = "A"\nlabel = "A"\n[[preset]]\nkey = "A"\nlabel = "B"\n', "key 'A' appears twice"),
    ('[[preset]]\nkey = "A"\nlabel = "A"\ncolour = "red"\n', "unknown field(s) colour"),
    ('title = "no presets"\n', "expected one or more [[preset]] tables"),
])
def test_malformed_presets_name_the_file_and_what_is_wrong(text, message):
    with pytest.raises(DataFileError, match=re.escape(message)) as error:
        parse_presets(text, "presets.toml")
    assert str(error.value).startswith("presets.toml: ")


# -- hidden_params: the rule baseline's lexicons and the template teacher's banks ------------


@pytest.mark.parametrize("language, key", [("en", hp_rules._english_key), ("ja", hp_rules._normalize)])
def test_the_rule_lexicons_parse(language, key):
    terms = hp_rules.parse_lexicon(load_sections(HP, f"data/lexicon_{language}.txt"), key)
    assert len(terms) > 300 and all(len(deltas) == len(AXES) for deltas in terms.values())


@pytest.mark.parametrize("text, line, message", [
    ("[tempo]\nfast | quick: E+28\nslow E-28\n", 3, "expected 'term | term: E+25 W-10'"),
    ("[tempo]\nfast: E+28\nslow: X-28\n", 3, "bad delta 'X-28'"),
    ("[tempo]\nfast: E+28\nslow: E28\n", 3, "bad delta 'E28'"),
    ("[tempo]\nfast: E+28\n[more]\nfast: E+20\n", 4, "lexicon term 'fast' is listed twice"),
    ("[tempo]\nfast:\n", 2, "no deltas after ':'"),
])
def test_a_malformed_lexicon_line_names_the_line(text, line, message):
    with pytest.raises(DataFileError, match=re.escape(message)) as error:
        hp_rules.parse_lexicon(sections(text), hp_rules._english_key)
    names_line(error, line)


@pytest.mark.parametrize("language, names", [
    ("en", ("strong", "medium", "mild", "negators", "weak negators", "softeners")),
    ("ja", ("strong", "medium", "mild", "negations", "full negation cues", "mild negation cues", "request idioms",
            "softening words", "boosting words")),
])
def test_the_rule_context_words_parse(language, names):
    words = hp_rules.parse_words(load_sections(HP, f"data/rule_words_{language}.txt"), names)
    assert all(words[name] for name in names)
    with pytest.raises(DataFileError, match=r"unknown section \[strongest\]") as error:
        hp_rules.parse_words(sections("[strong]\nvery\n[strongest]\nmost\n"), ["strong"])
    names_line(error, 3)


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_teacher_banks_parse(language):
    parsed = banks.parse_banks(load_sections(HP, f"data/teacher_banks_{language}.txt"))
    assert set(parsed) == {(axis, direction) for axis in AXES for direction in ("high", "low")}
    for entries in parsed.values():
        assert {level for entry in entries for level in entry.levels} == {1, 2, 3}


@pytest.mark.parametrize("text, line, message", [
    ("[energy high]\ng123: upbeat | lively\ng12 calm\n", 3, "expected '<class><levels>: item | item'"),
    ("[energy high]\nx123: upbeat\n", 2, "expected '<class><levels>: item | item'"),
    ("[energy high]\ng123: upbeat | | lively\n", 2, "empty item"),
    ("[energy sideways]\ng1: odd\n", 1, "bad section [energy sideways]"),
])
def test_a_malformed_bank_line_names_the_line(text, line, message):
    with pytest.raises(DataFileError, match=re.escape(message)) as error:
        banks.parse_banks(sections(text))
    names_line(error, line)


def test_a_missing_bank_is_an_error():
    text = "".join(f"[{axis} {direction}]\ng1: x\n" for axis in AXES for direction in ("high", "low")
                   if (axis, direction) != ("energy", "low"))
    with pytest.raises(DataFileError, match=r"test.txt: missing bank\(s\) \[energy low\]"):
        banks.parse_banks(sections(text))


def test_the_teacher_material_parses():
    assert len(english._EN_MAIN_FRAMES) > 40 and all(len(frame) == 2 for frame in english._EN_MAIN_FRAMES)
    assert set(english._EN_HINTS) == set(AXES) and english._EN_ADVERBS["g"][2][-1] == ""
    assert set(japanese._JA_MAIN_FRAMES) == {"polite", "casual", "plain"}
    assert any(not scene.implies for scene in english._EN_SCENES + japanese._JA_SCENES)
    assert english._EN_OPENERS[0] == "hey, "


@pytest.mark.parametrize("text, line, message", [
    ("[scenes]\na rainy cafe\na boss battle | energy+ | brightness+\n", 3, "expected 'scene' or"),
    ("[scenes]\na rainy cafe\na boss battle | power+\n", 3, "bad scene tag 'power+'"),
    ("[scenes]\na boss battle | energy+\na beach | brightness+\n", 2, "at least one must fit"),
])
def test_a_malformed_scene_names_the_line(text, line, message):
    with pytest.raises(DataFileError, match=re.escape(message)) as error:
        banks.parse_scenes(sections(text)["scenes"])
    names_line(error, line)
