"""The template teacher: the offline default, composing requests from phrase banks, no network, no cost.

It has to produce text that a model can only fit by reading meaning: every
salient axis (>= HIGH_AT or <= LOW_AT) is expressed, with degree words that
follow the magnitude, through many synonyms, sentence frames and scenes, and
never through a number or an axis name (those would be leaks the filter stage
drops, and shortcuts a model would learn instead).

All randomness comes from the caller's rng, so a seed reproduces a dataset.
"""

from __future__ import annotations

import random

from pipeline.tasks.hidden_params.schema import constraints_for, target_dict
from pipeline.tasks.hidden_params.teacher import banks
from pipeline.tasks.hidden_params.teacher.base import LANGUAGES, TeacherOutput
from pipeline.tasks.hidden_params.teacher.english import write_en
from pipeline.tasks.hidden_params.teacher.japanese import write_ja

# Inclusive character bounds; the filter stage drops rows outside them anyway.
_LENGTH_BOUNDS = {"en": (25, 280), "ja": (10, 140)}
# Regenerations before a request that will not fit is considered a bug.
_ATTEMPTS = 12

_WRITERS = {"en": write_en, "ja": write_ja}


class TemplateTeacher:
    """Offline teacher: composes requests from phrase banks, no network, no cost."""

    name = "template"

    def write(self, target: dict[str, int], language: str, rng: random.Random) -> TeacherOutput:
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; choose from: {', '.join(LANGUAGES)}")
        values = target_dict(target)
        constraints = constraints_for(values)
        low, high = _LENGTH_BOUNDS[language]
        compact = pad = False
        for _ in range(_ATTEMPTS):
            text, phrases = _WRITERS[language](values, constraints, rng, compact, pad)
            if low <= len(text) <= high:
                expressed = [{**constraint, "phrase": banks.locate(text, phrase)}
                             for constraint, phrase in zip(constraints, phrases)]
                return TeacherOutput(text=text, expressed=expressed, usage={})
            # Too long: drop the optional parts; too short: add a scene and hints.
            compact, pad = len(text) > high, len(text) < low
        raise RuntimeError(f"could not write a {language} request within {low}-{high} characters for {values}")
