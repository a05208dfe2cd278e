"""The phrase banks (data/teacher_banks_<language>.txt) and what both writers share: levels, scenes, checks.

A bank item says an axis is high or low at some levels of magnitude; a scene
tagged with constraints is only used when the target has them, so a "boss
battle" never asks for sleepy music.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from typing import NamedTuple

from pipeline.tasks.datafiles import DataFileError, Entry, Sections, load_sections
from pipeline.tasks.hidden_params.schema import AXES

DATA_PACKAGE = "pipeline.tasks.hidden_params"  # the teacher's data files live in the task's data/
DIRECTIONS = ("high", "low")
_TAG = re.compile(r"([gpmat])([123]+)")


class BankEntry(NamedTuple):
    cls: str  # g gradable, p proportion, m already mild, a bare before a noun, t bare after a noun
    levels: tuple[int, ...]  # 1 mild, 2 clear, 3 extreme
    text: str


class Scene(NamedTuple):
    text: str
    implies: tuple[tuple[str, str], ...]  # (axis, direction) constraints the scene needs


def parse_banks(sections: Sections) -> dict[tuple[str, str], tuple[BankEntry, ...]]:
    """(axis, direction) -> its items, from "[axis direction]" sections of "<class><levels>: item | item" lines."""
    banks: dict[tuple[str, str], tuple[BankEntry, ...]] = {}
    for name, entries in sections.items():
        parts = name.split()
        if len(parts) != 2 or parts[0] not in AXES or parts[1] not in DIRECTIONS:
            raise DataFileError(sections.source, sections.header_lines[name],
                                f"bad section [{name}]; expected [<axis> high] or [<axis> low], axes {', '.join(AXES)}")
        items: list[BankEntry] = []
        for entry in entries:
            tag, colon, rest = entry.raw.partition(":")
            match = _TAG.fullmatch(tag.strip())
            if not colon or not match:
                raise entry.error(f"expected '<class><levels>: item | item', e.g. 'g123: upbeat | lively', "
                                  f"got {entry.raw!r}")
            for item in rest.split("|"):
                if not item.strip():
                    raise entry.error(f"empty item in {entry.raw!r}")
                items.append(BankEntry(match.group(1), tuple(int(char) for char in match.group(2)), item.strip()))
        banks[(parts[0], parts[1])] = tuple(items)
    missing = [f"[{axis} {direction}]" for axis in AXES for direction in DIRECTIONS if (axis, direction) not in banks]
    if missing:
        raise DataFileError(sections.source, None, f"missing bank(s) {', '.join(missing)}")
    return banks


def load_banks(language: str) -> dict[tuple[str, str], tuple[BankEntry, ...]]:
    return parse_banks(load_sections(DATA_PACKAGE, f"data/teacher_banks_{language}.txt"))


def parse_scenes(entries: list[Entry]) -> tuple[Scene, ...]:
    """ "scene" or "scene | axis+ axis-" lines; at least one scene must have no tags (it fits every target)."""
    scenes = []
    for entry in entries:
        parts = entry.fields()
        if len(parts) > 2:
            raise entry.error(f"expected 'scene' or 'scene | axis+ axis-', got {entry.raw!r}")
        implies = []
        for tag in parts[1].split() if len(parts) == 2 else ():
            if tag[-1:] not in ("+", "-") or tag[:-1] not in AXES:
                raise entry.error(f"bad scene tag {tag!r}; expected <axis>+ or <axis>- with an axis of "
                                  f"{', '.join(AXES)}")
            implies.append((tag[:-1], "high" if tag.endswith("+") else "low"))
        scenes.append(Scene(parts[0], tuple(implies)))
    if entries and all(scene.implies for scene in scenes):
        raise entries[0].error("every scene has tags; at least one must fit a target without constraints")
    return tuple(scenes)


def level(value: int, direction: str) -> int:
    if direction == "high":
        return 3 if value >= 85 else 2 if value >= 75 else 1
    return 3 if value <= 15 else 2 if value <= 25 else 1


def opposite(direction: str) -> str:
    return "low" if direction == "high" else "high"


def usable(entries: tuple[BankEntry, ...], level: int) -> list[BankEntry]:
    return [entry for entry in entries if level in entry.levels]


# Negating the opposite pole ("not upbeat at all" = very calm) is how players
# often put the extremes, and "not too ..." the mild low end.
NEGATION_RATE = 0.12
# "Not folky at all" does not mean electronic, so acousticness is never negated.
NEGATABLE_AXES = ("energy", "warmth", "brightness", "complexity", "nostalgia")


def pick_scene(scenes: tuple[Scene, ...], constraints: list[dict[str, str]], rng: random.Random) -> str:
    present = [(c["axis"], c["direction"]) for c in constraints]
    fitting = [scene.text for scene in scenes if all(tag in present for tag in scene.implies)]
    return rng.choice(fitting)


def neutral_axes(values: Mapping[str, int], constraints: list[dict[str, str]]) -> list[str]:
    salient = [c["axis"] for c in constraints]
    return [axis for axis in values if axis not in salient]


def hint_rate(constraints: list[dict[str, str]]) -> float:
    """Unconstrained targets lean on hints and scenes to say anything at all."""
    return 0.6 if not constraints else 0.2


def cap(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def locate(text: str, phrase: str) -> str:
    """The phrase as it appears in text, after capitalisation or lowercasing."""
    start = text.lower().find(phrase.lower())
    if start < 0:
        raise AssertionError(f"phrase {phrase!r} missing from {text!r}")
    return text[start : start + len(phrase)]
