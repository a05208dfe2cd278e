"""four_class: a game studio's safety classifier for player text (DESIGN §3).

A player's message gets one of four labels, and the model's whole answer is
that label. What the labels mean is written once, in ``SYSTEM_PROMPT``; the
demo generator, the keyword baseline and the metrics all follow it.

The costly mistake is letting harm through, so besides accuracy and macro-F1
the metrics report ``false_allow_rate``: of the items whose gold label is not
ALLOW, the share predicted ALLOW.

One module per concern: ``labels``, ``prompt``, ``parsing``, ``metrics``
(confusion counts and every score), ``clean`` (drop reasons, split),
``validate`` (imported rows), ``rules`` (keyword baseline), ``demo`` (offline
generator) and ``task`` (the registry's ``Task``). The word lists and demo
sentences are package data in ``data/``.
"""

from pipeline.tasks.four_class.clean import CLEAN_OPTIONS, DROP_REASONS, clean, quality_score, stratified_split
from pipeline.tasks.four_class.demo import demo_rows
from pipeline.tasks.four_class.labels import ALLOW, INVALID, LABELS, LANGUAGE_CHOICES, LANGUAGES, NAME
from pipeline.tasks.four_class.metrics import (
    HIGHER_IS_BETTER,
    METRIC_KEYS,
    classification_metrics,
    confusion_chart,
    confusion_counts,
    confusion_scores,
    label_indices,
    predicted_label,
    row_confusion,
)
from pipeline.tasks.four_class.parsing import parse
from pipeline.tasks.four_class.prompt import SYSTEM_PROMPT, chat_messages
from pipeline.tasks.four_class.rules import KeywordRuleBaseline, keyword_label
from pipeline.tasks.four_class.task import TASK, FourClassTask
from pipeline.tasks.four_class.validate import validate_row

__all__ = [
    "ALLOW", "CLEAN_OPTIONS", "DROP_REASONS", "HIGHER_IS_BETTER", "INVALID", "LABELS", "LANGUAGES",
    "LANGUAGE_CHOICES", "METRIC_KEYS", "NAME", "SYSTEM_PROMPT", "TASK", "FourClassTask", "KeywordRuleBaseline",
    "chat_messages", "classification_metrics", "clean", "confusion_chart", "confusion_counts", "confusion_scores",
    "demo_rows", "keyword_label", "label_indices", "parse", "predicted_label", "quality_score", "row_confusion",
    "stratified_split", "validate_row",
]
