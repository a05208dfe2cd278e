"""The task protocol: every task type, the six-parameter flagship included, is one package behind `Task`.

The web app, the workers, templates and scripts read everything task-specific
through this interface (forms list `task_names()`, stages call
`get_task(name)`), so adding a task type is one package in pipeline/tasks/
plus one line in `_PACKAGES` below (docs/tasks.md walks through it).

A row is a plain dict. `Task.text_key` names the key the model reads and
`Task.answer_key` the gold answer (a JSON value: a label, a letter, or the six
integers as an object); tasks keep more keys (e.g. "id", "language", "meta").

An evaluation row is the eval-set row as frozen plus what the runner adds
(`pipeline.eval.runner`): "index", "raw", "latency_ms", "tokens_decoded",
"usage", and what `Task.score_row` returns: at least "parsed" (the answer the
raw output gives, None when unreadable), "valid" and "error" (the per-example
error that lower is better, which paired statistics compare).
"""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline.tasks.predictors import Predictor

ProgressCallback = Callable[[int, int], None]
LogCallback = Callable[[str], None]
Row = dict[str, Any]

SPLITS = ("train", "valid", "test")
PREDICTORS = ("rule_baseline", "prompt_baseline", "fine_tuned")


@dataclass(frozen=True)
class CleanResult:
    kept: list[Row]
    dropped: list[Row]  # each row with a "reason" key naming why it was dropped (and an optional "detail")
    reasons: tuple[str, ...] = ()  # every reason the cleaning knows, counted even when 0 so charts stay stable

    def by_reason(self) -> dict[str, int]:
        counts = Counter(row["reason"] for row in self.dropped)
        return {reason: counts.get(reason, 0) for reason in self.reasons} | dict(counts)


@dataclass(frozen=True)
class Generated:
    """What `Task.generate` wrote: the rows, and fields for the generate run's result (e.g. a cost ledger)."""

    rows: list[Row]
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingPreset:
    """A named set of training-form defaults (e.g. multiple_choice's experiment patterns A-D).

    A preset may name its trainer with "trainer"; the other params go onto the run row.
    """

    key: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AnswerField:
    """One field of an answer as the playground shows it and a designer labels it.

    kind "int": an integer low..high (a bar); "choice": one of `choices`.
    """

    key: str
    kind: str
    choices: tuple[str, ...] = ()
    low: int = 0
    high: int = 100


@dataclass(frozen=True)
class CriterionSpec:
    """A default acceptance criterion of a task (seeded as a row; pipeline.eval.acceptance.Criterion's fields)."""

    key: str
    metric: str
    comparator: str
    threshold: float | None = None
    applies_to: str | None = None
    baseline: str | None = None
    direction: str | None = None
    min_cycles: int = 0
    required: tuple[str, ...] = ()
    description: str = ""


class Task(ABC):
    """What a stage, a page or a trainer may ask of a task type. Subclasses set the attributes below."""

    name: str  # registry key, e.g. "four_class"
    label: str  # shown in forms
    languages: tuple[str, ...]  # languages its generator writes ("mixed" is offered when there are several)
    text_key: str = "text"
    answer_key: str = "answer"
    hashed_fields: tuple[str, ...] | None = None  # what a frozen set's hash covers; None: every key of a row
    headline_metric: str  # the metric the comparison page and sweeps sort by
    higher_is_better: Mapping[str, bool]  # direction of every metric `metrics()` returns
    verdict_metrics: tuple[str, ...]  # compared with the baselines by the default criteria
    regression_tolerance: float = 0.0  # how much the mean per-example error may rise over the previous cycle
    clean_options: Mapping[str, Any] = {}  # defaults of the options `clean()` accepts
    presets: Sequence[TrainingPreset] = ()
    trainers: tuple[str, ...] = ("sft",)  # pipeline.train's trainers this task supports: sft, reg_head, cls_head
    default_trainer: str = "sft"
    teachers: tuple[str, ...] = ("demo",)  # who writes generated rows: "demo" is the offline generator
    answer_fields: tuple[AnswerField, ...] = ()
    constrained_decoding: bool = False  # the answer has a fixed skeleton a decoder can force
    few_shot_k: int = 0  # solved train examples the prompt baseline sees
    head_labels: tuple[str, ...] = ()  # cls_head: the classes; reg_head: the outputs

    # -- data --------------------------------------------------------------------------

    @abstractmethod
    def generate(self, *, size: int, seed: int, language: str, teacher: str = "demo",
                 oversample: Sequence[Mapping[str, Any]] = (), budget_usd: float | None = None,
                 on_progress: ProgressCallback | None = None, on_log: LogCallback | None = None) -> Generated:
        """`size` new rows (deterministic for a seed offline); `oversample` are `error_bands()` of a model."""

    def generation_languages(self) -> tuple[str, ...]:
        """What `generate`'s `language` accepts: each language, and "mixed" (half each) when there are several."""
        return (*self.languages, "mixed") if len(self.languages) > 1 else tuple(self.languages)

    @abstractmethod
    def validate_row(self, obj: Any, index: int) -> Row:
        """One imported JSON object -> a row; ValueError naming the problem otherwise."""

    @abstractmethod
    def check_answer(self, value: Any) -> Any:
        """A designer's label (from the playground or an import) as the task's answer; ValueError otherwise."""

    def labelled_row(self, text: str, answer: Any, *, language: str, row_id: str, origin: str) -> Row:
        """A row from a labelled real request (a correction), in the task's row format."""
        return {"id": row_id, self.text_key: text, "language": language, self.answer_key: self.check_answer(answer),
                "origin": origin}

    def field_dev_rows(self) -> list[Row]:
        """Hand-written real requests the task ships as the start of its field set (rows as `labelled_row` makes
        them); none by default."""
        return []

    @abstractmethod
    def clean(self, rows: Sequence[Row], options: Mapping[str, Any],
              on_progress: ProgressCallback | None = None) -> CleanResult: ...

    @abstractmethod
    def split(self, rows: Sequence[Row], seed: int,
              fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[Row]]:
        """train/valid/test (stratified where the task has labels)."""

    def split_stats(self, splits: Mapping[str, Sequence[Row]], dropped_by_reason: Mapping[str, int]) -> dict[str, Any]:
        """Counts, languages and gold answers per split (what the dataset page charts), and the drops."""
        return {
            "counts": {name: len(splits[name]) for name in SPLITS} | {"total": sum(len(splits[n]) for n in SPLITS)},
            "languages": {name: dict(Counter(row.get("language") or "" for row in splits[name])) for name in SPLITS},
            "answers": {name: dict(sorted(Counter(str(self.answer(row)) for row in splits[name]).items()))
                        for name in SPLITS},
            "dropped_by_reason": dict(dropped_by_reason),
            "dropped_total": sum(dropped_by_reason.values()),
        }

    def text(self, row: Mapping[str, Any]) -> str:
        return row[self.text_key]

    def answer(self, row: Mapping[str, Any]) -> Any:
        return row[self.answer_key]

    def prepare_rows(self, rows: Sequence[Row], params: Mapping[str, Any]) -> list[Row]:
        """Rows as a training preset wants them read (e.g. retrieved context), for training and evaluation alike."""
        return [dict(row) for row in rows]

    # -- model input and output --------------------------------------------------------

    @abstractmethod
    def chat_messages(self, row: Mapping[str, Any], with_answer: bool,
                      train_mode: str | None = None) -> list[dict[str, str]]:
        """System + user (+ assistant when with_answer) chat turns for SFT and prompting."""

    @abstractmethod
    def parse(self, raw: str) -> Any:
        """The answer a model's raw output gives (a label, a letter, the six values), None when unreadable."""

    def format_answer(self, answer: Any) -> str:
        """The gold output string of an answer (what SFT teaches and a head writes)."""
        return str(answer)

    # -- evaluation --------------------------------------------------------------------

    @abstractmethod
    def rule_baseline(self) -> Predictor: ...

    @abstractmethod
    def score_row(self, example: Mapping[str, Any], raw: str) -> dict[str, Any]:
        """{"parsed", "valid", "error", ...}: one example's outcome (error: lower is better)."""

    @abstractmethod
    def metrics(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
        """Aggregate metrics of evaluation rows (latency and cost are the runner's)."""

    def charts(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Plain data for task-specific charts (e.g. {"confusion": {"labels", "matrix"}})."""
        return {}

    def error_bands(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Where a model erred most, as `oversample` entries for the next cycle's `generate`."""
        return []

    def default_criteria(self) -> list[CriterionSpec]:
        """DESIGN §7's task-specific defaults: readable output where the task measures it, and fine_tuned beating
        prompt_baseline on each verdict metric, on the same frozen set (loop and tracking criteria are generic)."""
        criteria = []
        if "json_valid_rate" in self.higher_is_better:
            criteria.append(CriterionSpec(
                key="json_valid_rate", metric="json_valid_rate", comparator=">=", threshold=0.98,
                applies_to="fine_tuned",
                description="§7.1: the fine-tuned model's output parses strictly at least 98% of the time"))
        for baseline, section in (("prompt_baseline", "§7.2"), ("rule_baseline", "§7.5")):
            for metric in self.verdict_metrics:
                direction = "higher" if self.higher_is_better[metric] else "lower"
                criteria.append(CriterionSpec(
                    key=f"beats_{baseline}_{metric}", metric=metric, comparator="better_than_baseline",
                    applies_to="fine_tuned", baseline=baseline, direction=direction,
                    description=f"{section}: fine_tuned {'above' if direction == 'higher' else 'below'} {baseline} "
                                f"on {metric}, on the same frozen eval set"))
        criteria.append(CriterionSpec(
            key="no_regression", metric="error", comparator="no_regression", threshold=self.regression_tolerance,
            applies_to="fine_tuned",
            description="§7.6: fine_tuned no worse than the previous cycle's on every yardstick (paired bootstrap "
                        "95% CI of the per-example error difference; the threshold is the tolerance)"))
        return criteria

    def display(self, parsed: Any) -> list[tuple[str, Any]]:
        """(field, value) pairs the playground shows for a parsed answer."""
        if parsed is None:
            return []
        if isinstance(parsed, Mapping):
            return [(f.key, parsed.get(f.key)) for f in self.answer_fields]
        return [(self.answer_fields[0].key if self.answer_fields else "answer", parsed)]


_PACKAGES = {
    "hidden_params": "pipeline.tasks.hidden_params",
    "four_class": "pipeline.tasks.four_class",
    "multiple_choice": "pipeline.tasks.multiple_choice",
}
DEFAULT_TASK = "hidden_params"  # what a form preselects, and what rows created before task types meant
# More task packages, "name=module,name=module" (e.g. one that lives outside pipeline/tasks/, like the test suite's).
EXTRA_PACKAGES_ENV = "FTLOOP_TASK_PACKAGES"


def _packages() -> dict[str, str]:
    extra = os.environ.get(EXTRA_PACKAGES_ENV, "")
    pairs = (item.split("=", 1) for item in extra.split(",") if "=" in item)
    return _PACKAGES | {name.strip(): module.strip() for name, module in pairs}


def task_names() -> list[str]:
    return list(_packages())


def get_task(name: str) -> Task:
    packages = _packages()
    if name not in packages:
        raise ValueError(f"unknown task type {name!r}; expected one of {', '.join(packages)}")
    return importlib.import_module(packages[name]).TASK


def all_tasks() -> list[Task]:
    return [get_task(name) for name in task_names()]


def render_chats(task: Task, rows: Sequence[Mapping[str, Any]],
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
