"""The offline demo generator: labelled player messages, the same for a seed.

Sentences a player might write, per label and language (data/demo_<language>.txt),
with slots filled at random ({player}, {item}, {place}, {boss}, {mode}, {n}),
set among neutral chatter.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.tasks.common import text_md5
from pipeline.tasks.datafiles import Sections, check_placeholders, expect_sections, load_sections, texts
from pipeline.tasks.four_class.labels import LABELS, LANGUAGE_CHOICES, LANGUAGES, NAME
from pipeline.tasks.registry import ProgressCallback

SLOTS: tuple[str, ...] = ("player", "item", "place", "boss", "mode")  # filled in this order (the rng draws so)


@dataclass(frozen=True)
class DemoBank:
    """One language's demo material: core messages per label, chatter, and slot fillers."""

    cores: dict[str, tuple[str, ...]]
    chatter: tuple[str, ...]
    slots: dict[str, tuple[str, ...]]


def parse_demo(sections: Sections) -> DemoBank:
    """Sections "[slot <name>]" (each of ``SLOTS``), "[core <LABEL>]" (each label) and "[chatter]"."""
    expect_sections(sections, [*(f"slot {name}" for name in SLOTS), *(f"core {label}" for label in LABELS),
                               "chatter"])
    for name in (*(f"core {label}" for label in LABELS), "chatter"):
        check_placeholders(sections, name, (*SLOTS, "n"))
    return DemoBank(cores={label: texts(sections, f"core {label}") for label in LABELS},
                    chatter=texts(sections, "chatter"),
                    slots={name: texts(sections, f"slot {name}") for name in SLOTS})


_BANKS = {language: parse_demo(load_sections(__package__, f"data/demo_{language}.txt")) for language in LANGUAGES}
_JOINERS = {"en": " ", "ja": ""}
# How many chatter sentences surround the message: mostly a few, sometimes a long forum-style post.
_CHATTER_COUNTS = (0, 1, 2, 3, 4, "long")
_CHATTER_WEIGHTS = (25, 25, 20, 12, 8, 10)
_DEMO_MIN_CHARS = 60  # a margin over the cleaning minimum
_DEMO_ATTEMPTS = 50


def _fill(template: str, slots: Mapping[str, Sequence[str]], rng: random.Random) -> str:
    values = {key: rng.choice(options) for key, options in slots.items()}
    return template.format(n=rng.randint(2, 95), **values)


def _demo_text(label: str, language: str, rng: random.Random) -> str:
    bank = _BANKS[language]
    cores, chatter, slots, joiner = bank.cores, bank.chatter, bank.slots, _JOINERS[language]
    count = rng.choices(_CHATTER_COUNTS, _CHATTER_WEIGHTS)[0]
    count = rng.randint(8, len(chatter)) if count == "long" else count
    pool = rng.sample(chatter, len(chatter))
    sentences = [_fill(template, slots, rng) for template in pool[:count]]
    sentences.insert(rng.randint(0, len(sentences)), _fill(rng.choice(cores[label]), slots, rng))
    extra = iter(pool[count:])
    while len(joiner.join(sentences)) < _DEMO_MIN_CHARS:
        sentences.append(_fill(next(extra), slots, rng))
    if len(sentences) < 8:
        return joiner.join(sentences)
    paragraphs = [joiner.join(sentences[start : start + 4]) for start in range(0, len(sentences), 4)]
    return "\n\n".join(paragraphs)


def demo_rows(size: int, seed: int, language: str,
              on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
    """``size`` labelled player messages, offline and the same for a seed; labels as even as ``size`` allows.

    Texts run from about 60 to about 1500 characters, all distinct after
    normalisation, so that a demo dataset passes ``clean`` with the defaults.
    """
    if size < 1:
        raise ValueError(f"size must be at least 1, got {size}")
    if language not in LANGUAGE_CHOICES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGE_CHOICES)}, got {language!r}")
    rng = random.Random(f"{NAME}:{seed}")
    labels = [LABELS[index % len(LABELS)] for index in range(size)]
    rng.shuffle(labels)
    seen: set[str] = set()
    rows = []
    step = max(1, size // 100)
    for index, label in enumerate(labels):
        row_language = rng.choice(LANGUAGES) if language == "mixed" else language
        for _ in range(_DEMO_ATTEMPTS):
            text = _demo_text(label, row_language, rng)
            if text_md5(text) not in seen:
                break
        else:
            raise ValueError(f"could not write {size} distinct demo texts; ask for fewer rows")
        seen.add(text_md5(text))
        rows.append({"id": f"fc{index:06d}", "text": text, "answer": label, "language": row_language,
                     "source": "demo"})
        if on_progress and (index + 1 == size or (index + 1) % step == 0):
            on_progress(index + 1, size)
    return rows
