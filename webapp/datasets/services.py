"""Start the data half of a cycle: create the rows, then enqueue their ids."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict
from typing import Any

from django.db import transaction

from pipeline.data.generate_teacher_pairs import Band
from pipeline.data.importer import parse_import, row_maker
from pipeline.data.jsonl import write_jsonl
from webapp.datasets.models import FLAGSHIP_TASK, Dataset
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
    teacher: str = "template",
    teacher_budget_usd: float | None = None,
    oversample: Sequence[Band] = (),
    name: str = "",
    task: str = FLAGSHIP_TASK,
    user=None,
) -> Dataset:
    """generate -> filter -> split -> freeze for a new dataset; an API teacher stops at `teacher_budget_usd`.

    A text `task` (pipeline.tasks.registry) generates its offline demo rows instead of asking a teacher.
    """
    params: dict[str, Any] = {
        "size": size,
        "seed": seed,
        "language": language,
        "teacher": teacher,
        "oversample": [asdict(band) for band in oversample],
    }
    if teacher_budget_usd is not None:
        params["teacher_budget_usd"] = teacher_budget_usd
    with transaction.atomic():
        source = teacher if task == FLAGSHIP_TASK else task
        dataset = Dataset.objects.create(
            name=name or f"{source} · {language} · {size} pairs · seed {seed}", params=params, task_type=task,
            created_by=user,
        )
        runs = run_services.create_chain([(kind, {}) for kind in DATA_STAGES], dataset=dataset, created_by=user)
    run_services.enqueue(runs)
    return dataset


def import_dataset(lines: Iterable[bytes | str], *, name: str, task: str = FLAGSHIP_TASK, user=None) -> Dataset:
    """Validate every line first (ImportFailed names the bad ones); store only a clean file.

    A text `task` validates each object with its own `validate_row`. The imported
    rows then go through filter -> split -> freeze like generated ones.
    """
    rows = parse_import(lines, make_row=row_maker(task))
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=name, source=Dataset.Source.IMPORTED, params={"seed": 0, "size": len(rows)}, task_type=task,
            created_by=user,
        )
        write_jsonl(dataset.directory / GENERATED, rows)
        runs = run_services.create_chain([(kind, {}) for kind in DATA_STAGES[1:]], dataset=dataset, created_by=user)
    run_services.enqueue(runs)
    return dataset
