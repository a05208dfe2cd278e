"""Start the data half of a cycle: create the rows, then enqueue their ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from pipeline.data.importer import parse_import
from pipeline.data.jsonl import write_jsonl
from pipeline.tasks.registry import DEFAULT_TASK, get_task
from webapp.datasets.models import Dataset
from webapp.datasets.stages import GENERATED
from webapp.runs import services as run_services
from webapp.runs.models import StageRun

Kind = StageRun.Kind
DATA_STAGES = (Kind.GENERATE, Kind.FILTER, Kind.SPLIT, Kind.FREEZE)


def start_data_cycle(
    *,
    size: int,
    seed: int,
    language: str,
    teacher: str = "",
    teacher_budget_usd: float | None = None,
    oversample: Sequence[dict[str, Any]] = (),
    name: str = "",
    task: str = DEFAULT_TASK,
    user=None,
) -> Dataset:
    """generate -> filter -> split -> freeze for a new dataset of `task`; `teacher` is one of the task's teachers
    (its first when empty), and an API teacher stops at `teacher_budget_usd`."""
    teacher = teacher or get_task(task).teachers[0]
    params: dict[str, Any] = {
        "size": size,
        "seed": seed,
        "language": language,
        "teacher": teacher,
        "oversample": list(oversample),
    }
    if teacher_budget_usd is not None:
        params["teacher_budget_usd"] = teacher_budget_usd
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=name or f"{task} · {teacher} · {language} · {size} rows · seed {seed}", params=params, task_type=task,
            created_by=user,
        )
        runs = run_services.create_chain([(kind, {}) for kind in DATA_STAGES], dataset=dataset, created_by=user)
    run_services.enqueue(runs)
    return dataset


def import_dataset(lines: Iterable[bytes | str], *, name: str, task: str = DEFAULT_TASK, user=None) -> Dataset:
    """Validate every line with the task's `validate_row` first (ImportFailed names the bad ones); store only a
    clean file, which then goes through filter -> split -> freeze like generated rows."""
    chosen = get_task(task)

    def training_row(obj, number: int) -> dict:
        row = chosen.validate_row(obj, number)
        if chosen.answer(row) is None:
            raise ValueError("a training row needs its full answer; a request labelled with directions only belongs "
                             "in the field set (Import labelled requests)")
        return row

    rows = parse_import(lines, make_row=training_row)
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=name, source=Dataset.Source.IMPORTED, params={"seed": 0, "size": len(rows)}, task_type=task,
            created_by=user,
        )
        write_jsonl(dataset.directory / GENERATED, rows)
        runs = run_services.create_chain([(kind, {}) for kind in DATA_STAGES[1:]], dataset=dataset, created_by=user)
    run_services.enqueue(runs)
    return dataset
