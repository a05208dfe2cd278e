"""multiple_choice behind the registry's protocol (``pipeline.tasks.registry.Task``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks import common
from pipeline.tasks.datafiles import load_presets
from pipeline.tasks.multiple_choice.clean import CLEAN_OPTIONS, clean, split
from pipeline.tasks.multiple_choice.demo import demo_passages, demo_rows
from pipeline.tasks.multiple_choice.metrics import HIGHER_IS_BETTER, charts, metrics
from pipeline.tasks.multiple_choice.parsing import parse_answer
from pipeline.tasks.multiple_choice.prompt import chat_messages
from pipeline.tasks.multiple_choice.retrieval import with_retrieved_context
from pipeline.tasks.multiple_choice.rules import OptionOverlapBaseline
from pipeline.tasks.multiple_choice.schema import LANGUAGES, LETTERS, NAME
from pipeline.tasks.multiple_choice.validate import validate_row
from pipeline.tasks.registry import AnswerField, CleanResult, ProgressCallback

PRESETS = load_presets(__package__)  # the experiment patterns A-D


class MultipleChoiceTask(common.TextAnswerTask):
    """multiple_choice behind the registry's protocol (pipeline.tasks.registry.Task); module functions do the work."""

    name = NAME
    label = "Multiple choice (direct / CoT)"
    languages = LANGUAGES
    headline_metric = "accuracy"
    higher_is_better = HIGHER_IS_BETTER
    verdict_metrics = ("accuracy",)
    clean_options = CLEAN_OPTIONS
    presets = PRESETS
    answer_fields = (AnswerField("letter", "choice", tuple(LETTERS)),)

    demo_rows = staticmethod(demo_rows)
    demo_passages = staticmethod(demo_passages)
    validate_row = staticmethod(validate_row)
    split = staticmethod(split)
    chat_messages = staticmethod(chat_messages)
    parse = staticmethod(parse_answer)
    metrics = staticmethod(metrics)
    charts = staticmethod(charts)

    def prepare_rows(self, rows: Sequence[dict[str, Any]], params: Mapping[str, Any],
                     passages: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Apply a preset's data flags: with "retrieval_context", prepend passages (the demo ones by default).

        Run it on every split (train, valid and the eval set) so that training and evaluation read the same input.
        """
        if not params.get("retrieval_context"):
            return [dict(row) for row in rows]
        return with_retrieved_context(rows, demo_passages() if passages is None else passages,
                                      int(params.get("retrieval_top_k", 1)))

    def clean(self, rows: Sequence[dict[str, Any]], options: Mapping[str, Any],
              on_progress: ProgressCallback | None = None) -> CleanResult:
        return clean(rows, options)

    def generation_languages(self) -> tuple[str, ...]:
        return LANGUAGES  # a question and its options are written in one language

    def rule_baseline(self) -> OptionOverlapBaseline:
        return OptionOverlapBaseline()


TASK = MultipleChoiceTask()
