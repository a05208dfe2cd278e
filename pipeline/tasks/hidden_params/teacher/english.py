"""The template teacher's English writer: a request from phrase banks, frames, scenes and hints.

The words are package data: data/teacher_banks_en.txt (how each axis is said)
and data/teacher_en.txt (degree adverbs, frames, openers, scenes, hints).
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from pipeline.tasks.datafiles import check_placeholders, expect_sections, load_sections, pairs, texts
from pipeline.tasks.hidden_params.schema import AXES
from pipeline.tasks.hidden_params.teacher import banks

_TEMPLATES = {  # section -> the placeholders its entries may use
    "negations 3": ("w",), "negations 1": ("w",), "main frames": ("d",), "adjective followups": ("x",),
    "post followups": ("x",), "scene posts": ("s",), "scene sentences": ("s",), "scene prefixes": ("s",),
    "leaning hints": ("w", "o"),
}
_SECTIONS = (
    *(f"adverbs {cls} {level}" for cls in "gp" for level in (3, 2, 1)), "negations 3", "negations 1", "scenes",
    "nouns", "mass nouns", "neutral adjectives", "main frames", "openers", "hedges", "adjective followups",
    "post followups", "scene posts", "scene sentences", "scene prefixes", "thanks", *(f"hints {axis}" for axis in AXES),
    "leaning hints",
)
_DATA = load_sections(banks.DATA_PACKAGE, "data/teacher_en.txt")
expect_sections(_DATA, _SECTIONS)
for _name, _allowed in _TEMPLATES.items():
    check_placeholders(_DATA, _name, _allowed)

_EN_BANKS = banks.load_banks("en")
# Degree adverbs per class and level; "" lets a clear (level 2) word stand bare.
_EN_ADVERBS = {cls: {level: texts(_DATA, f"adverbs {cls} {level}") for level in (3, 2, 1)} for cls in "gp"}
_EN_NEGATIONS = {level: texts(_DATA, f"negations {level}") for level in (3, 1)}
_EN_SCENES = banks.parse_scenes(_DATA["scenes"])
_EN_NOUNS = texts(_DATA, "nouns")
_EN_MASS_NOUNS = texts(_DATA, "mass nouns")
_EN_NEUTRAL_ADJECTIVES = texts(_DATA, "neutral adjectives")
_EN_MAIN_FRAMES = pairs(_DATA, "main frames")
_EN_OPENERS = texts(_DATA, "openers")
_EN_HEDGES = texts(_DATA, "hedges")
_EN_ADJ_FOLLOWUPS = pairs(_DATA, "adjective followups")
_EN_POST_FOLLOWUPS = pairs(_DATA, "post followups")
_EN_SCENE_POSTS = texts(_DATA, "scene posts")
_EN_SCENE_SENTENCES = texts(_DATA, "scene sentences")
_EN_SCENE_PREFIXES = texts(_DATA, "scene prefixes")
_EN_THANKS = texts(_DATA, "thanks")
_EN_HINTS = {axis: texts(_DATA, f"hints {axis}") for axis in AXES}
_EN_LEANING_HINTS = texts(_DATA, "leaning hints")


def _en_article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _en_realise(constraint: dict[str, str], value: int, rng: random.Random) -> tuple[str, str]:
    """(kind, phrase): kind "adj" goes before a noun, "post" after it."""
    axis, direction = constraint["axis"], constraint["direction"]
    level = banks.level(value, direction)
    negation_level = 3 if level == 3 else 1 if level == 1 and direction == "low" else 0
    if negation_level and axis in banks.NEGATABLE_AXES and rng.random() < banks.NEGATION_RATE:
        opposite = [e.text for e in _EN_BANKS[(axis, banks.opposite(direction))] if e.cls == "g"]
        return "post", rng.choice(_EN_NEGATIONS[negation_level]).format(w=rng.choice(opposite))
    entry = rng.choice(banks.usable(_EN_BANKS[(axis, direction)], level))
    if entry.cls == "t":
        return "post", entry.text
    if entry.cls == "a":
        return "adj", entry.text
    if entry.cls == "g" and level == 3 and rng.random() < 0.1:
        return "post", rng.choice(("as {w} as it gets", "as {w} as possible")).format(w=entry.text)
    adverb = rng.choice(_EN_ADVERBS[entry.cls][level])
    return "adj", f"{adverb} {entry.text}".strip()


def _en_join(parts: list[str], rng: random.Random) -> str:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        return rng.choice(("{} and {}", "{} and {}", "{}, {}", "{} but {}", "{} yet {}", "{} and also {}")).format(
            *parts
        )
    head = ", ".join(parts[:-1])
    return head + rng.choice((" and ", ", and ", ", ", " and ")) + parts[-1]


def _en_tail(posts: list[str], rng: random.Random) -> str:
    tail = posts[0]
    for post in posts[1:]:
        tail += rng.choice((" and ", ", ", ", and "))
        tail += post
    return tail


def _en_description(adjs: list[str], posts: list[str], rng: random.Random) -> str:
    if adjs:
        adj = _en_join(adjs, rng)
        noun, mass = rng.choice(_EN_NOUNS), rng.choice(_EN_MASS_NOUNS)
        shapes = [
            f"something {adj}",
            f"something {adj}",
            f"{_en_article(noun)} {noun} that's {adj}",
            f"music that's {adj}",
        ]
        # "a bit calm" cannot follow an article or precede a plural.
        if not adj.startswith("a "):
            shapes += [
                f"{_en_article(adj)} {adj} {noun}",
                f"{_en_article(adj)} {adj} {noun}",
                f"some {adj} {mass}",
                f"{adj} {mass}",
            ]
        head = rng.choice(shapes)
    else:
        noun = rng.choice(_EN_NOUNS)
        head = rng.choice(
            ("something", "something", f"{_en_article(noun)} {noun}", f"some {rng.choice(_EN_MASS_NOUNS)}", "music")
        )
    if not posts:
        return head
    return head + rng.choice((" ", " ", ", " if adjs else " ")) + _en_tail(posts, rng)


def _en_followups(items: list[tuple[str, str]], rng: random.Random) -> list[str]:
    sentences = []
    adjs = [phrase for kind, phrase in items if kind == "adj"]
    posts = [phrase for kind, phrase in items if kind == "post"]
    groups = [adjs] if adjs and rng.random() < 0.5 else [[adj] for adj in adjs]
    for group in groups:
        frame, end = rng.choice(_EN_ADJ_FOLLOWUPS)
        sentences.append(frame.format(x=_en_join(group, rng)) + end)
    for post in posts:
        frame, end = rng.choice(_EN_POST_FOLLOWUPS)
        sentences.append(frame.format(x=post) + end)
    return sentences


def _en_hint(axis: str, value: int, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(_EN_HINTS[axis])
    lean = "high" if value >= 50 else "low"
    same = [e.text for e in _EN_BANKS[(axis, lean)] if e.cls == "g"]
    other = [e.text for e in _EN_BANKS[(axis, banks.opposite(lean))] if e.cls == "g"]
    return rng.choice(_EN_LEANING_HINTS).format(w=rng.choice(same), o=rng.choice(other))


def write_en(
    values: Mapping[str, int], constraints: list[dict[str, str]], rng: random.Random, compact: bool, pad: bool
) -> tuple[str, list[str]]:
    """(text, phrase per constraint). `compact` and `pad` are the retries after a too long or too short text."""
    realised = []
    for constraint in constraints:
        tries = 3 if compact else 1
        options = [_en_realise(constraint, values[constraint["axis"]], rng) for _ in range(tries)]
        realised.append(min(options, key=lambda option: len(option[1])))
    order = list(range(len(constraints)))
    rng.shuffle(order)
    in_description = len(order) if compact or rng.random() < 0.5 else rng.randint(1, max(1, len(order)))
    described = [realised[i] for i in order[:in_description]]
    adjs = [phrase for kind, phrase in described if kind == "adj"]
    posts = [phrase for kind, phrase in described if kind == "post"]
    if not constraints and rng.random() < 0.5:
        adjs = [rng.choice(_EN_NEUTRAL_ADJECTIVES)]

    scene_at = None
    if pad or (not compact and rng.random() < (0.9 if not constraints else 0.55)):
        scene = banks.pick_scene(_EN_SCENES, constraints, rng)
        scene_at = rng.choice(("post", "post", "before", "after", "prefix"))
        if scene_at == "post":
            posts.append(rng.choice(_EN_SCENE_POSTS).format(s=scene))

    frame, end = rng.choice(_EN_MAIN_FRAMES)
    main = frame.format(d=_en_description(adjs, posts, rng))
    if not compact and rng.random() < 0.2:
        main += rng.choice(_EN_HEDGES)
    if scene_at == "prefix":
        main = rng.choice(_EN_SCENE_PREFIXES).format(s=scene) + main
    elif not compact and rng.random() < 0.25:
        main = rng.choice(_EN_OPENERS) + main
    closing = rng.choice((end, end, end, "!" if end == "." else end, ""))

    after = _en_followups([realised[i] for i in order[in_description:]], rng)
    if not compact:
        after += [
            _en_hint(axis, values[axis], rng)
            for axis in banks.neutral_axes(values, constraints)
            if pad or rng.random() < banks.hint_rate(constraints)
        ][:2]
    rng.shuffle(after)
    before = []
    if scene_at in ("before", "after"):
        (before if scene_at == "before" else after).append(rng.choice(_EN_SCENE_SENTENCES).format(s=scene))
    if not compact and rng.random() < 0.12:
        after.append(rng.choice(_EN_THANKS))
    # An unpunctuated request only reads naturally as the last sentence.
    main += closing if closing or not after else end
    text = " ".join(banks.cap(sentence) for sentence in [*before, main, *after])
    if rng.random() < 0.08:
        text = text.lower()
    return text, [phrase for _, phrase in realised]
