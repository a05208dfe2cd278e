"""What a teacher is: it sees the six hidden parameters and writes what a player might type.

The template teacher (``template``) and remote ones (pipeline.data's Mistral
teacher) share these types; generation only relies on ``Teacher``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

LANGUAGES: tuple[str, ...] = ("en", "ja")


@dataclass(frozen=True)
class TeacherOutput:
    text: str
    # One {"axis", "direction", "phrase"} per constraint, in constraints_for order;
    # "phrase" is the substring of text that carries it, for audits and filters.
    expressed: list[dict]
    usage: dict = field(default_factory=dict)


class Teacher(Protocol):
    name: str

    def write(self, target: dict[str, int], language: str, rng: random.Random) -> TeacherOutput: ...


@dataclass(frozen=True)
class TeacherBatch:
    """What a remote teacher's ``write_many`` returns: one output per item, in item order.

    An item is None when the teacher stopped before writing it; ``stopped_reason``
    then says why (budget exhausted, cancelled, API error), for the run's log.
    """

    outputs: list[TeacherOutput | None]
    stopped_reason: str | None = None
