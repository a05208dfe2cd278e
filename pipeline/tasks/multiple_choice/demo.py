"""The offline demo generator: arithmetic, antonym, longest-word and Aetheria lore questions, about half CoT.

The vocabulary and the lore are package data: data/kingdoms.txt, lore.txt,
passages.txt (what pattern D retrieves), antonyms.txt and words.txt, each read
by a small parser below that names the file and line of anything malformed.
"""

from __future__ import annotations

import random
from typing import Any

from pipeline.tasks.datafiles import DataFileError, Sections, expect_sections, load_sections, texts
from pipeline.tasks.multiple_choice.schema import LANGUAGES, LETTERS, NAME
from pipeline.tasks.multiple_choice.validate import validate_row
from pipeline.tasks.registry import ProgressCallback

LORE_ATTRIBUTES = ("capital", "guardian", "founder", "export")
Kingdom = tuple[str, str, str, str, str]  # name, capital, guardian, founder, export


def parse_kingdoms(sections: Sections) -> tuple[tuple[Kingdom, Kingdom], ...]:
    """(English, Japanese) per kingdom from "[en]" and "[ja]", one kingdom a line in the same order."""
    expect_sections(sections, LANGUAGES)
    english, japanese = ([tuple(entry.fields(5)) for entry in sections[language]] for language in LANGUAGES)
    if len(english) != len(japanese):
        raise DataFileError(sections.source, sections.header_lines["ja"],
                            f"[ja] lists {len(japanese)} kingdoms but [en] {len(english)}; list the same ones in order")
    return tuple(zip(english, japanese))


def _by_attribute(sections: Sections, name: str) -> dict[str, str]:
    templates: dict[str, str] = {}
    for entry in sections[name]:
        attribute, template = entry.fields(2)
        if attribute not in LORE_ATTRIBUTES:
            raise entry.error(f"unknown attribute {attribute!r}; expected one of {', '.join(LORE_ATTRIBUTES)}")
        if attribute in templates:
            raise entry.error(f"attribute {attribute!r} appears twice in [{name}]")
        templates[attribute] = template
    missing = [attribute for attribute in LORE_ATTRIBUTES if attribute not in templates]
    if missing:
        raise DataFileError(sections.source, sections.header_lines[name], f"[{name}] lacks {', '.join(missing)}")
    return templates


def parse_lore(sections: Sections) -> tuple[dict[str, dict[str, str]], dict[str, dict[str, str]]]:
    """(questions, facts): language -> attribute -> template, from "[questions <language>]" and "[facts <language>]"."""
    expect_sections(sections, [f"{kind} {language}" for kind in ("questions", "facts") for language in LANGUAGES])
    return ({language: _by_attribute(sections, f"questions {language}") for language in LANGUAGES},
            {language: _by_attribute(sections, f"facts {language}") for language in LANGUAGES})


def parse_passages(sections: Sections) -> tuple[dict[str, str], dict[str, tuple[str, ...]]]:
    """(the kingdom passage template per language, the general passages per language)."""
    expect_sections(sections, [f"{kind} {language}" for kind in ("kingdom", "general") for language in LANGUAGES])
    for language in LANGUAGES:
        extra = sections[f"kingdom {language}"][1:]
        if extra:
            raise extra[0].error(f"[kingdom {language}] holds one template, the passage written per kingdom")
    return ({language: sections[f"kingdom {language}"][0].text for language in LANGUAGES},
            {language: texts(sections, f"general {language}") for language in LANGUAGES})


def parse_antonyms(sections: Sections) -> dict[str, tuple[tuple[str, str], ...]]:
    """language -> (word, opposite) pairs, one "word | opposite" a line."""
    expect_sections(sections, LANGUAGES)
    return {language: tuple((pair[0], pair[1]) for pair in (entry.fields(2) for entry in sections[language]))
            for language in LANGUAGES}


def parse_words(sections: Sections) -> dict[str, tuple[str, ...]]:
    """language -> words for the longest-word questions, which need at least four different lengths."""
    expect_sections(sections, LANGUAGES)
    for language in LANGUAGES:
        if len({len(word) for word in texts(sections, language)}) < 4:
            raise DataFileError(sections.source, sections.header_lines[language],
                                f"[{language}] needs words of at least four different lengths")
    return {language: texts(sections, language) for language in LANGUAGES}


def _load(name: str) -> Sections:
    return load_sections(__package__, f"data/{name}")


KINGDOMS = parse_kingdoms(_load("kingdoms.txt"))
_LORE_QUESTIONS, _LORE_FACTS = parse_lore(_load("lore.txt"))
_KINGDOM_PASSAGES, _GENERAL_PASSAGES = parse_passages(_load("passages.txt"))
_ANTONYMS = parse_antonyms(_load("antonyms.txt"))
_WORDS = parse_words(_load("words.txt"))

_TEXT = {
    "en": {"question": "Question: {stem}", "is_option": " {value} is option {letter}.",
           "markers": ("Answer: {letter}",)},
    "ja": {"question": "問題: {stem}", "is_option": "{value}は選択肢 {letter} です。",
           "markers": ("答え: {letter}", "答え：{wide}", "正解は{letter}")},
}


def demo_passages(language: str | None = None) -> list[dict[str, str]]:
    """The lore passages of the demo data (one per kingdom, plus general ones), for pattern D."""
    passages = []
    for code in LANGUAGES if language is None else (language,):
        for english, japanese in KINGDOMS:
            name, capital, guardian, founder, export = english if code == "en" else japanese
            text = _KINGDOM_PASSAGES[code].format(name=name, capital=capital, guardian=guardian, founder=founder,
                                                  export=export, guardian_lower=guardian.lower(),
                                                  export_lower=export.lower())
            passages.append({"id": f"lore-{english[0].split()[0].lower()}-{code}", "language": code, "text": text})
        for number, text in enumerate(_GENERAL_PASSAGES[code], start=1):
            passages.append({"id": f"general-{number}-{code}", "language": code, "text": text})
    return passages


def _arithmetic(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    """(dedup key, stem, options, gold option, reasoning) for a sum, difference or product."""
    operation = rng.choice("+-×")
    if operation == "+":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        value = a + b
        tens, ones = (a // 10 + b // 10) * 10, a % 10 + b % 10
        steps = [f"{a // 10 * 10} + {b // 10 * 10} = {tens}", f"{a % 10} + {b % 10} = {ones}",
                 f"{tens} + {ones} = {value}"]
        near = [value + 1, value - 1, value + 10, value - 10, value + 2]
    elif operation == "-":
        a = rng.randint(20, 99)
        b = rng.randint(2, a - 1)
        value = a - b
        middle = a - b // 10 * 10
        steps = ([f"{a} - {b // 10 * 10} = {middle}", f"{middle} - {b % 10} = {value}"] if b >= 10
                 else [f"{a} - {b} = {value}"])
        near = [value + 1, value - 1, value + 10, value - 10, value + 2]
    else:
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        value = a * b
        steps = [f"{a} × {b - 1} = {a * (b - 1)}", f"{a * (b - 1)} + {a} = {value}"]
        near = [value + a, value - a, value + b, value - b, value + 1]
    stem = (f"What is {a} {operation} {b}?" if language == "en" else f"{a} {operation} {b} はいくつですか？")
    distractors = rng.sample(sorted({n for n in near if n >= 0 and n != value}), 3)
    joiner = ". " if language == "en" else "。"
    reasoning = joiner.join(steps) + ("." if language == "en" else "。")
    return stem, stem, [str(value)] + [str(n) for n in distractors], str(value), reasoning


def _antonym(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    pairs = _ANTONYMS[language]
    word, opposite = rng.choice(pairs)
    if rng.random() < 0.5:
        word, opposite = opposite, word
    pool = sorted({w for pair in pairs for w in pair} - {word, opposite})
    options = [opposite] + rng.sample(pool, 3)
    if language == "en":
        stem = f'Which word means the opposite of "{word}"?'
        reasoning = f'"{word.capitalize()}" and "{opposite}" are opposites; the other words are unrelated to "{word}".'
    else:
        stem = f"「{word}」の反対の意味の言葉はどれですか？"
        reasoning = f"「{word}」と「{opposite}」は反対の意味です。ほかの言葉は「{word}」の反対ではありません。"
    return stem, stem, options, opposite, reasoning


def _longest(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    pool = _WORDS[language]
    by_length: dict[int, list[str]] = {}
    for word in pool:
        by_length.setdefault(len(word), []).append(word)
    options = [rng.choice(by_length[length]) for length in rng.sample(sorted(by_length), 4)]
    longest = max(options, key=len)
    if language == "en":
        stem = "Which word has the most letters?"
        counts = ", ".join(f"{word} {len(word)}" for word in options)
        reasoning = f"Count the letters: {counts}. The longest is {longest} with {len(longest)}."
    else:
        stem = "次のうち、文字数が最も多い言葉はどれですか？"
        counts = "、".join(f"{word} {len(word)}" for word in options)
        reasoning = f"文字数を数えます: {counts}。最も多いのは{longest}の{len(longest)}文字です。"
    return stem + "|" + "|".join(sorted(options)), stem, options, longest, reasoning


def _lore(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    column = 0 if language == "en" else 1
    kingdom = rng.randrange(len(KINGDOMS))
    attribute = rng.choice(LORE_ATTRIBUTES)
    position = 1 + LORE_ATTRIBUTES.index(attribute)
    name = KINGDOMS[kingdom][column][0]
    value = KINGDOMS[kingdom][column][position]
    others = [entry[column][position] for index, entry in enumerate(KINGDOMS) if index != kingdom]
    stem = _LORE_QUESTIONS[language][attribute].format(name=name)
    reasoning = _LORE_FACTS[language][attribute].format(name=name, value=value, value_lower=value.lower())
    return stem, stem, [value] + rng.sample(others, 3), value, reasoning


_FAMILIES = (("arithmetic", _arithmetic, 0.4), ("antonym", _antonym, 0.15), ("longest_word", _longest, 0.15),
             ("lore", _lore, 0.3))


def demo_rows(size: int, seed: int, language: str,
              on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
    """Offline demo questions (arithmetic, antonyms, longest word, Aetheria lore), about half CoT.

    Deterministic for (size, seed, language); no question is repeated (lore and
    antonym questions run out after a few dozen, arithmetic fills the rest).
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose from: {', '.join(LANGUAGES)}")
    if size < 0:
        raise ValueError(f"size must be non-negative, got {size}")
    rng = random.Random(f"{NAME}-{language}-{seed}")
    text = _TEXT[language]
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < size:
        attempts += 1
        if attempts > 100 * size + 1000:
            raise ValueError(f"the demo generator ran out of distinct questions after {len(rows)} rows")
        family, make, _ = rng.choices(_FAMILIES, weights=[weight for *_, weight in _FAMILIES])[0]
        key, stem, options, gold, reasoning = make(rng, language)
        if key in seen:
            continue
        seen.add(key)
        rng.shuffle(options)
        letter = LETTERS[options.index(gold)]
        lines = [text["question"].format(stem=stem)] + [f"{LETTERS[i]}. {option}" for i, option in enumerate(options)]
        marker = rng.choice(text["markers"]).format(letter=letter, wide=chr(ord("Ａ") + LETTERS.index(letter)))
        mode = "cot" if rng.random() < 0.5 else "direct"
        if mode == "cot":
            conclusion = text["is_option"].format(value=gold[:1].upper() + gold[1:], letter=letter)
            output = f"{reasoning}{conclusion}\n{marker}"
        else:
            output = marker
        obj = {"id": f"mc-{language}-{seed}-{len(rows):05d}", "input": "\n".join(lines), "output": output,
               "meta": {"mode": mode, "language": language, "family": family, "source": "demo"}}
        rows.append(validate_row(obj, len(rows)))
        if on_progress:
            on_progress(len(rows), size)
    return rows
