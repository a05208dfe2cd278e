"""Labelled real requests (issue 14, Build 2; DESIGN §2): to training or to the task's field set, by a hash.

A designer's correction in the playground, a line of an engineer's import, or
a row of a task's hand-written dev set becomes one `LabelledRequest` per task
type and normalised text (a later label of the same text replaces the answer).
Each goes, deterministically by the sha256 of its normalised text, to training
(`training_requests`: rows of the next cycle's data) or to the field
(`field_set`: the task's content-hashed, versioned field set), a share
settings.FTLOOP_FIELD_SHARE of them to the field.

Every function takes a Task or a task type's name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from pipeline.data.generate_frozen_eval_set import freeze
from pipeline.data.importer import parse_import, text_problem
from pipeline.tasks.registry import Row, Task, get_task
from pipeline.tasks.text import detect_language, normalise
from webapp.datasets.models import Dataset, FrozenEvalSet, LabelledRequest

TRAIN, FIELD = LabelledRequest.Assigned.TRAIN.value, LabelledRequest.Assigned.FIELD.value
DEV_SET = "dev set"  # the origin of a task's shipped dev rows (Task.field_dev_rows), always in the field
CORRECTION, IMPORT = "correction", "import"


def _task(task: Task | str) -> Task:
    return get_task(task) if isinstance(task, str) else task


def text_hash(text: str) -> str:
    """sha256 (hex) of the normalised text: what assigns a request, and what makes two labels the same request."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()


def assign(text: str) -> str:
    """"field" when the first 32 bits of the text's hash, as a share of 2**32, fall below FTLOOP_FIELD_SHARE;
    "train" otherwise. Deterministic: the same request (case, width, punctuation, spacing aside) always lands on
    the same side."""
    share = int(text_hash(text)[:8], 16) / 2**32
    return FIELD if share < settings.FTLOOP_FIELD_SHARE else TRAIN


def row_answer(task: Task | str, row: Mapping[str, Any]) -> Any:
    """The label a row of the task carries, checked: its answer, or (when that is None, e.g. the six-parameter
    task's rows labelled with directions only) what `check_answer` reads from the row itself."""
    task = _task(task)
    answer = row.get(task.answer_key)
    return task.check_answer(answer if answer is not None else row)


def label_request(task: Task | str, text: str, answer: Any, *, language: str, origin: str, user=None,
                  assigned: str | None = None) -> LabelledRequest:
    """Store (or replace) the label of one real request; ValueError when the text or the answer is not valid.

    The side is `assigned` when given (the dev set: always "field"), else the side the text already has (a text
    never changes sides by itself), else `assign(text)`. When the answer changes, a training request is
    offered to the next dataset again (used_in_dataset cleared).
    """
    task = _task(task)
    if not isinstance(text, str) or not text.strip():
        raise ValueError("the request text is empty")
    problem = text_problem(text)
    if problem:
        raise ValueError(f"the request text holds {problem}")
    checked = task.check_answer(answer)
    if assigned is not None and assigned not in (TRAIN, FIELD):
        raise ValueError(f"assigned must be {TRAIN!r} or {FIELD!r}, got {assigned!r}")
    digest = text_hash(text)
    with transaction.atomic():
        existing = (LabelledRequest.objects.select_for_update()
                    .filter(task_type=task.name, text_hash=digest).first())
        if existing is None:
            return LabelledRequest.objects.create(
                task_type=task.name, text=text.strip(), text_hash=digest, language=language or "", answer=checked,
                origin=origin, assigned=assigned or assign(text), created_by=user)
        if existing.answer != checked:
            existing.used_in_dataset = None
        existing.text, existing.language, existing.answer = text.strip(), language or "", checked
        existing.origin, existing.assigned = origin, assigned or existing.assigned
        existing.created_by = user or existing.created_by
        existing.save()
        return existing


def _row(task: Task, request: LabelledRequest) -> Row:
    return task.labelled_row(request.text, request.answer, language=request.language, row_id=f"l{request.pk:06d}",
                             origin=f"labelled:{request.origin}")


def training_requests(task: Task | str, dataset: Dataset) -> list[Row]:
    """The task's labelled requests assigned to training that no dataset used yet (or that `dataset` used: a
    re-run), as rows of the task (ids "l000042", origin "labelled:<origin>"), now marked used by `dataset`."""
    task = _task(task)
    with transaction.atomic():
        requests = list(LabelledRequest.objects.select_for_update()
                        .filter(task_type=task.name, assigned=TRAIN)
                        .filter(Q(used_in_dataset__isnull=True) | Q(used_in_dataset=dataset))
                        .order_by("pk"))
        rows = [_row(task, request) for request in requests]
        LabelledRequest.objects.filter(pk__in=[r.pk for r in requests]).update(used_in_dataset=dataset)
    return rows


def field_rows(task: Task | str) -> list[Row]:
    """Every labelled request of the task assigned to the field, as rows, oldest first."""
    task = _task(task)
    return [_row(task, request)
            for request in LabelledRequest.objects.filter(task_type=task.name, assigned=FIELD).order_by("pk")]


def field_set(task: Task | str) -> FrozenEvalSet | None:
    """The task's field set as it stands: its field rows frozen (content-hashed, under DATA_DIR/frozen).

    The same rows give the same FrozenEvalSet; new content is the next version (kind "field", version = the
    task's highest field version + 1). None when the task has no field rows.
    """
    task = _task(task)
    rows = field_rows(task)
    if not rows:
        return None
    frozen = freeze(rows, settings.DATA_DIR / "frozen", task.hashed_fields)
    with transaction.atomic():
        existing = FrozenEvalSet.objects.filter(content_hash=frozen.content_hash).first()
        if existing is not None:
            return existing
        previous = (FrozenEvalSet.objects.select_for_update()
                    .filter(task_type=task.name, kind=FrozenEvalSet.Kind.FIELD)
                    .aggregate(top=Max("version"))["top"] or 0)
        return FrozenEvalSet.objects.create(
            content_hash=frozen.content_hash, task_type=task.name, kind=FrozenEvalSet.Kind.FIELD,
            version=previous + 1, path=str(frozen.path), size=frozen.size)


def latest_field_set(task: Task | str) -> FrozenEvalSet | None:
    """The task's newest field-set version already frozen (no freezing)."""
    task = _task(task)
    return (FrozenEvalSet.objects.filter(task_type=task.name, kind=FrozenEvalSet.Kind.FIELD)
            .order_by("-version").first())


def load_dev_set(task: Task | str) -> int:
    """Label every row the task ships as its dev set (Task.field_dev_rows) as a field request (origin "dev set");
    idempotent. How many dev rows the task has (0: none). Does not freeze: `field_set` does."""
    task = _task(task)
    rows = task.field_dev_rows()
    with transaction.atomic():
        for row in rows:
            label_request(task, task.text(row), row_answer(task, row), language=row.get("language") or "",
                          origin=DEV_SET, assigned=FIELD)
    return len(rows)


def import_labelled(lines: Iterable[bytes | str], *, task: Task | str, user=None) -> dict[str, Any]:
    """An engineer's JSONL of the task's rows (validate_row; ImportFailed names every bad line, and then nothing
    is stored) as labelled requests (origin "import"), each assigned by its hash; the field set refrozen when it
    changed. {"train", "field": how many lines went each way, "field_set": the field set now (or None)}."""
    task = _task(task)

    def labelled(obj: Any, number: int) -> tuple[str, Any, str]:
        row = task.validate_row(obj, number)
        text = task.text(row)
        return text, row_answer(task, row), row.get("language") or detect_language(text)

    items = parse_import(lines, make_row=labelled)
    counts = {TRAIN: 0, FIELD: 0}
    with transaction.atomic():
        for text, answer, language in items:
            request = label_request(task, text, answer, language=language, origin=IMPORT, user=user)
            counts[request.assigned] += 1
    return {"train": counts[TRAIN], "field": counts[FIELD], "field_set": field_set(task)}
