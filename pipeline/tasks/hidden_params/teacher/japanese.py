"""The template teacher's Japanese writer: modifiers inflected from their endings, in three registers of speech.

The words are package data: data/teacher_banks_ja.txt (how each axis is said)
and data/teacher_ja.txt (degree adverbs, frames per register, scenes, hints).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import NamedTuple

from pipeline.tasks.datafiles import check_placeholders, expect_sections, load_sections, pairs, texts
from pipeline.tasks.hidden_params.schema import AXES
from pipeline.tasks.hidden_params.teacher import banks

_JA_REGISTERS = ("polite", "casual", "plain")
_TEMPLATES = {  # section -> the placeholders its entries may use
    **{f"main frames {register}": ("np",) for register in _JA_REGISTERS},
    **{f"followups {register}": ("x",) for register in _JA_REGISTERS},
    **{f"scene sentences {register}": ("s",) for register in _JA_REGISTERS},
    **{f"scene prefixes {register}": ("s",) for register in _JA_REGISTERS},
    "scene modifiers": ("s",), "leaning hints": ("w", "o"),
}
_ADVERB_LEVELS = {"g": (3, 2, 1), "p": (3, 2, 1), "m": (1,)}
_SECTIONS = (
    *(f"adverbs {cls} {level}" for cls, levels in _ADVERB_LEVELS.items() for level in levels), "negations 3",
    "negations 1", "scenes", "nouns", "feel nouns", "neutral modifiers",
    *(f"{kind} {register}" for kind in ("main frames", "followups", "scene sentences", "scene prefixes", "openers",
                                        "thanks") for register in _JA_REGISTERS),
    "scene modifiers", *(f"hints {axis}" for axis in AXES), "leaning hints",
)
_DATA = load_sections(banks.DATA_PACKAGE, "data/teacher_ja.txt")
expect_sections(_DATA, _SECTIONS)
for _name, _allowed in _TEMPLATES.items():
    check_placeholders(_DATA, _name, _allowed)

_JA_BANKS = banks.load_banks("ja")
_JA_ADVERBS = {cls: {level: texts(_DATA, f"adverbs {cls} {level}") for level in levels}
               for cls, levels in _ADVERB_LEVELS.items()}
_JA_NEGATIONS = {level: texts(_DATA, f"negations {level}") for level in (3, 1)}
_JA_SCENES = banks.parse_scenes(_DATA["scenes"])
_JA_NOUNS = texts(_DATA, "nouns")
_JA_FEEL_NOUNS = texts(_DATA, "feel nouns")
_JA_NEUTRAL_MODIFIERS = texts(_DATA, "neutral modifiers")
_JA_MAIN_FRAMES = {register: pairs(_DATA, f"main frames {register}") for register in _JA_REGISTERS}
_JA_FOLLOWUPS = {register: pairs(_DATA, f"followups {register}") for register in _JA_REGISTERS}
_JA_SCENE_MODIFIERS = texts(_DATA, "scene modifiers")
_JA_SCENE_SENTENCES = {register: pairs(_DATA, f"scene sentences {register}") for register in _JA_REGISTERS}
_JA_SCENE_PREFIXES = {register: texts(_DATA, f"scene prefixes {register}") for register in _JA_REGISTERS}
_JA_OPENERS = {register: texts(_DATA, f"openers {register}") for register in _JA_REGISTERS}
_JA_THANKS = {register: texts(_DATA, f"thanks {register}") for register in _JA_REGISTERS}
_JA_HINTS = {axis: texts(_DATA, f"hints {axis}") for axis in AXES}
_JA_LEANING_HINTS = texts(_DATA, "leaning hints")


class _JaForms(NamedTuple):
    attr: str  # before a noun: 明るい曲
    te: str  # joining to the next modifier: 明るくて、
    kedo: str  # contrasting with the next: 明るいけど、
    kanji: str  # before 感じ / 雰囲気: 明るい感じ
    stem: str | None  # in a ・ list or before 系 (明るい・レトロ系); None where that reads badly
    sugi: str | None  # before すぎない, where it inflects cleanly


def _ja_forms(word: str) -> _JaForms:
    """Inflect a modifier from its ending; the bank marks the irregular ones."""
    attr, _, te = word.partition("/")
    if te:
        return _JaForms(attr, te, attr + "けど", attr, attr, None)
    if attr.endswith("な"):
        stem = attr[:-1]
        simile = stem.endswith(("よう", "みたい"))
        return _JaForms(attr, stem + "で", stem + "だけど", attr, None if simile else stem, None if simile else stem)
    if attr.endswith("の"):
        stem = attr[:-1]
        return _JaForms(attr, stem + "で", stem + "だけど", stem + "な", stem, None)
    if attr.endswith("いい"):
        return _JaForms(attr, attr[:-2] + "よくて", attr + "けど", attr, attr, None)
    if attr.endswith("い"):
        sugi = None if attr.endswith("ない") else attr[:-1]
        return _JaForms(attr, attr[:-1] + "くて", attr + "けど", attr, attr, sugi)
    if attr.endswith(("た", "だ")):
        voiced = attr.endswith("だ")
        return _JaForms(
            attr,
            attr[:-1] + ("でいて" if voiced else "ていて"),
            attr[:-1] + ("でるけど" if voiced else "てるけど"),
            attr,
            attr,
            None,
        )
    raise ValueError(f"cannot inflect {word!r}")


def _ja_negative(word: str) -> str | None:
    """Plain negative of a modifier (激しい -> 激しくない), None where it would read badly."""
    attr, _, te = word.partition("/")
    if te or attr.endswith(("ない", "ような", "みたいな")):
        return None
    if attr.endswith("いい"):
        return attr[:-2] + "よくない"
    if attr.endswith("い"):
        return attr[:-1] + "くない"
    if attr.endswith(("な", "の")):
        return attr[:-1] + "じゃない"
    if attr.endswith("た"):
        return attr[:-1] + "てない"
    return attr[:-1] + "でない"


def _ja_prefixed(forms: _JaForms, adverb: str) -> _JaForms:
    stem = None if forms.stem is None else adverb + forms.stem
    sugi = None if forms.sugi is None else adverb + forms.sugi
    return _JaForms(adverb + forms.attr, adverb + forms.te, adverb + forms.kedo, adverb + forms.kanji, stem, sugi)


def _ja_realise(constraint: dict[str, str], value: int, rng: random.Random) -> _JaForms:
    axis, direction = constraint["axis"], constraint["direction"]
    level = banks.level(value, direction)
    negation_level = 3 if level == 3 else 1 if level == 1 and direction == "low" else 0
    if negation_level and axis in banks.NEGATABLE_AXES and rng.random() < banks.NEGATION_RATE:
        opposite = [e.text for e in _JA_BANKS[(axis, banks.opposite(direction))] if e.cls == "g"]
        negatives = [neg for neg in map(_ja_negative, opposite) if neg]
        return _ja_forms(rng.choice(_JA_NEGATIONS[negation_level]) + rng.choice(negatives))
    entry = rng.choice(banks.usable(_JA_BANKS[(axis, direction)], level))
    forms = _ja_forms(entry.text)
    if entry.cls == "a":
        return forms
    return _ja_prefixed(forms, rng.choice(_JA_ADVERBS[entry.cls][level]))


def _ja_chain(items: list[_JaForms], rng: random.Random, last: str) -> tuple[str, list[str]]:
    """Modifiers joined in te-form (or one けど), the last one in the `last` form."""
    contrast_at = rng.randrange(len(items) - 1) if len(items) > 1 and rng.random() < 0.2 else -1
    text, used = "", []
    for index, forms in enumerate(items):
        if index == len(items) - 1:
            piece = getattr(forms, last)
        elif index == contrast_at:
            piece = forms.kedo + "、"
        else:
            piece = forms.te + rng.choice(("", "、"))
        text += piece
        used.append(piece.rstrip("、"))
    return text, used


def _ja_noun_phrase(items: list[_JaForms], scene_modifier: str | None, rng: random.Random) -> tuple[str, list[str]]:
    if not items:
        modifier, used = rng.choice(_JA_NEUTRAL_MODIFIERS), []
        noun = rng.choice(_JA_NOUNS)
    elif len(items) > 1 and all(forms.stem for forms in items) and rng.random() < 0.2:
        used = [forms.stem for forms in items]
        modifier = "・".join(used) + rng.choice(("系の", "って感じの"))
        noun = rng.choice(_JA_NOUNS)
    elif rng.random() < 0.3:
        modifier, used = _ja_chain(items, rng, "kanji")
        noun = rng.choice(_JA_FEEL_NOUNS)
    else:
        modifier, used = _ja_chain(items, rng, "attr")
        noun = rng.choice(_JA_NOUNS)
    if scene_modifier is None:
        return modifier + noun, used
    if rng.random() < 0.5:
        return scene_modifier + rng.choice(("、", "")) + modifier + noun, used
    return modifier + "、" + scene_modifier + noun, used


def _ja_hint(axis: str, value: int, rng: random.Random) -> str:
    lean = "high" if value >= 50 else "low"
    same = [_ja_forms(e.text) for e in _JA_BANKS[(axis, lean)] if e.cls == "g"]
    other = [
        forms.sugi
        for forms in (_ja_forms(e.text) for e in _JA_BANKS[(axis, banks.opposite(lean))] if e.cls == "g")
        if forms.sugi
    ]
    if rng.random() < 0.5:
        return rng.choice(_JA_HINTS[axis])
    return rng.choice(_JA_LEANING_HINTS).format(w=rng.choice(same).kanji, o=rng.choice(other))


def write_ja(
    values: Mapping[str, int], constraints: list[dict[str, str]], rng: random.Random, compact: bool, pad: bool
) -> tuple[str, list[str]]:
    """(text, phrase per constraint). `compact` and `pad` are the retries after a too long or too short text."""
    realised = []
    for constraint in constraints:
        tries = 3 if compact else 1
        options = [_ja_realise(constraint, values[constraint["axis"]], rng) for _ in range(tries)]
        realised.append(min(options, key=lambda forms: len(forms.attr)))
    order = list(range(len(constraints)))
    rng.shuffle(order)
    in_description = len(order) if compact or rng.random() < 0.55 else rng.randint(1, max(1, len(order)))
    register = rng.choice(_JA_REGISTERS)
    phrases = [""] * len(constraints)

    scene_at = None
    if pad or (not compact and rng.random() < (0.9 if not constraints else 0.5)):
        scene = banks.pick_scene(_JA_SCENES, constraints, rng)
        scene_at = rng.choice(("modifier", "modifier", "sentence", "prefix"))
    scene_modifier = rng.choice(_JA_SCENE_MODIFIERS).format(s=scene) if scene_at == "modifier" else None

    described = order[:in_description]
    noun_phrase, used = _ja_noun_phrase([realised[i] for i in described], scene_modifier, rng)
    for index, phrase in zip(described, used):
        phrases[index] = phrase
    frame, end = rng.choice(_JA_MAIN_FRAMES[register])
    main = frame.format(np=noun_phrase)
    if scene_at == "prefix":
        main = rng.choice(_JA_SCENE_PREFIXES[register]).format(s=scene) + main
    elif not compact and rng.random() < 0.25:
        main = rng.choice(_JA_OPENERS[register]) + main
    closing = rng.choice((end, end, end, "" if end == "。" else end, "！" if end == "。" else "?"))

    after = []
    rest = order[in_description:]
    groups = [rest] if rest and rng.random() < 0.5 else [[index] for index in rest]
    for group in groups:
        chain, used = _ja_chain([realised[i] for i in group], rng, "kanji")
        for index, phrase in zip(group, used):
            phrases[index] = phrase
        followup, followup_end = rng.choice(_JA_FOLLOWUPS[register])
        after.append(followup.format(x=chain) + followup_end)
    if not compact:
        after += [
            _ja_hint(axis, values[axis], rng)
            for axis in banks.neutral_axes(values, constraints)
            if pad or rng.random() < banks.hint_rate(constraints)
        ][:2]
    rng.shuffle(after)
    before = []
    if scene_at == "sentence":
        scene_frame, scene_end = rng.choice(_JA_SCENE_SENTENCES[register])
        rng.choice((before, after)).append(scene_frame.format(s=scene) + scene_end)
    if not compact and rng.random() < 0.12:
        after.append(rng.choice(_JA_THANKS[register]))
    main += closing if closing or not after else end
    return "".join([*before, main, *after]), phrases
