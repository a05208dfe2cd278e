"""Task types beside the flagship: one module each, found by name here.

The web app reads everything task-specific through this interface (forms list
`task_names()`, stages call `get_task(name)`), so adding a task type is one
module in pipeline/tasks/ plus one line in `_MODULES` below.

A row is a plain dict with at least "id", "text" (what the model reads) and
"answer" (the gold output the metrics compare against, a string); tasks may
keep more keys (e.g. "meta", "language").

Two methods are optional, and the helpers below say whether a task has them:
``prepare_rows(rows, params)`` rewrites rows as a training preset asks (e.g.
multiple_choice's retrieved context), for training and evaluation alike;
``ab_test(rows_a, rows_b, name_a, name_b)`` compares two evaluations of the
same frozen set (four_class: ``pipeline.eval.ab_test``). docs/tasks.md walks
through adding a task type.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pipeline.infer.base import Predictor

ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class CleanResult:
    kept: list[dict[str, Any]]
    dropped: list[dict[str, Any]]  # each row with a "reason" key naming why it was dropped


@dataclass(frozen=True)
class TrainingPreset:
    """A named set of training-form defaults (e.g. multiple_choice's experiment patterns A-D)."""

    key: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)


class TextTask(Protocol):
    name: str  # registry key, e.g. "four_class"
    label: str  # shown in forms
    languages: tuple[str, ...]
    headline_metric: str  # the metric the comparison page sorts by, e.g. "macro_f1"
    higher_is_better: Mapping[str, bool]  # direction of every metric `metrics()` returns
    clean_options: Mapping[str, Any]  # defaults of the cleaning options `clean()` accepts
    presets: Sequence[TrainingPreset]

    def demo_rows(self, size: int, seed: int, language: str,
                  on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
        """An offline demo dataset (no network, deterministic for a seed)."""
        ...

    def validate_row(self, obj: Any, index: int) -> dict[str, Any]:
        """One imported JSON object -> a row; ValueError naming the problem otherwise."""
        ...

    def clean(self, rows: Sequence[dict[str, Any]], options: Mapping[str, Any]) -> CleanResult: ...

    def split(self, rows: Sequence[dict[str, Any]], seed: int,
              fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[dict[str, Any]]]:
        """train/valid/test (stratified where the task has labels)."""
        ...

    def chat_messages(self, row: Mapping[str, Any], with_answer: bool,
                      train_mode: str | None = None) -> list[dict[str, str]]:
        """System + user (+ assistant when with_answer) chat turns for SFT and prompting."""
        ...

    def parse(self, raw: str) -> str | None:
        """The answer a model's raw output gives (a label, a letter), None when unreadable."""
        ...

    def rule_baseline(self) -> Predictor: ...

    def metrics(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
        """Aggregate metrics of eval rows, each {"answer", "parsed", "raw", "latency_ms", "meta"?}."""
        ...

    def charts(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Plain data for task-specific charts (e.g. {"confusion": {"labels", "matrix"}})."""
        ...


_MODULES = {
    "four_class": "pipeline.tasks.four_class",
    "multiple_choice": "pipeline.tasks.multiple_choice",
}


def task_names() -> list[str]:
    return list(_MODULES)


def get_task(name: str) -> TextTask:
    if name not in _MODULES:
        raise ValueError(f"unknown task type {name!r}; expected one of {', '.join(_MODULES)}")
    return importlib.import_module(_MODULES[name]).TASK


def prepare_rows(task: TextTask, rows: Sequence[dict[str, Any]], params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows as the training params want them read (the task's ``prepare_rows``); plain copies for tasks without it."""
    prepare = getattr(task, "prepare_rows", None)
    return prepare(rows, params) if prepare else [dict(row) for row in rows]


def render_chats(task: TextTask, rows: Sequence[Mapping[str, Any]],
                 train_mode: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """({"messages": [...]} per row the train mode can learn from, why each other row cannot: one line per row).

    A row the mode cannot use (e.g. a direct answer under "cot", which has no
    reasoning to learn) is the task's ValueError, reported rather than trained on.
    """
    chats, refused = [], []
    for row in rows:
        try:
            chats.append({"messages": task.chat_messages(row, True, train_mode)})
        except ValueError as error:
            refused.append(str(error))
    return chats, refused


def has_ab_test(task: TextTask) -> bool:
    return callable(getattr(task, "ab_test", None))
