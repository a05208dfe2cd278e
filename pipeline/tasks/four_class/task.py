"""four_class behind the registry's protocol (``pipeline.tasks.registry.Task``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks import common
from pipeline.tasks.datafiles import load_presets
from pipeline.tasks.four_class.clean import CLEAN_OPTIONS, clean, stratified_split
from pipeline.tasks.four_class.demo import demo_rows
from pipeline.tasks.four_class.labels import LABELS, LANGUAGES, NAME
from pipeline.tasks.four_class.metrics import HIGHER_IS_BETTER, classification_metrics, confusion_chart
from pipeline.tasks.four_class.parsing import parse
from pipeline.tasks.four_class.prompt import chat_messages
from pipeline.tasks.four_class.rules import KeywordRuleBaseline
from pipeline.tasks.four_class.validate import validate_row
from pipeline.tasks.registry import AnswerField, CleanResult, ProgressCallback


class FourClassTask(common.TextAnswerTask):
    """four_class behind the registry's protocol (``pipeline.tasks.registry.Task``)."""

    name = NAME
    label = "Safety classification (ALLOW / ESCALATION / DENY / REFUSE)"
    languages = LANGUAGES
    headline_metric = "macro_f1"
    higher_is_better = HIGHER_IS_BETTER
    verdict_metrics = ("macro_f1",)
    clean_options = CLEAN_OPTIONS
    trainers = ("sft", "cls_head")
    answer_fields = (AnswerField("label", "choice", LABELS),)
    head_labels = LABELS
    presets = load_presets(__package__)

    demo_rows = staticmethod(demo_rows)
    validate_row = staticmethod(validate_row)
    split = staticmethod(stratified_split)
    chat_messages = staticmethod(chat_messages)
    parse = staticmethod(parse)
    metrics = staticmethod(classification_metrics)

    def clean(self, rows: Sequence[dict[str, Any]], options: Mapping[str, Any],
              on_progress: ProgressCallback | None = None) -> CleanResult:
        return clean(rows, options)

    def rule_baseline(self) -> KeywordRuleBaseline:
        return KeywordRuleBaseline()

    def charts(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        return {"confusion": confusion_chart(rows)}


TASK = FourClassTask()
