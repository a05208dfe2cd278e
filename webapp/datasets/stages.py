"""The data stages as the workers run them: read the dataset's files, call the dataset's task, store.

Each function takes the StageRun and its reporter and returns the run's result
dict. Files are the source of truth between stages; rows in Example and
DroppedExample mirror them for the web pages (the task's text as
`request_text`, its gold answer as `target`). Every task-specific step is a
method of the dataset's task (pipeline.tasks.registry), so no task type is named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from pipeline.data.build_train_valid_test import write_splits
from pipeline.data.generate_frozen_eval_set import freeze as freeze_rows
from pipeline.data.generate_frozen_eval_set import near_duplicates_against
from pipeline.data.jsonl import read_json, read_jsonl, write_json, write_jsonl
from pipeline.tasks.registry import SPLITS, Task
from webapp.datasets.models import Dataset, DroppedExample, Example, FrozenEvalSet
from webapp.playground.models import Correction
from webapp.runs.models import Cycle, StageRun
from webapp.runs.reporting import RunReporter

GENERATED, KEPT, DROPPED, FILTER_REPORT = "generated.jsonl", "kept.jsonl", "dropped.jsonl", "filter_report.json"
MIN_ROWS_TO_SPLIT = 10
_ID_LENGTH = Example._meta.get_field("external_id").max_length


def generate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's generator (a teacher, or its offline demo rows), plus designer corrections in a loop's cycle."""
    dataset, params = run.dataset, run.dataset.params
    task = dataset.task
    generated = task.generate(
        size=params["size"], seed=params["seed"], language=params["language"],
        teacher=params.get("teacher") or task.teachers[0], oversample=params.get("oversample", []),
        budget_usd=params.get("teacher_budget_usd"), on_progress=reporter.on_progress, on_log=reporter.on_log,
    )
    corrections = designer_corrections(dataset, task) if Cycle.objects.filter(dataset=dataset).exists() else []
    if corrections:
        reporter.on_log(f"adding {len(corrections)} designer corrections (train split only)")
    write_jsonl(dataset.directory / GENERATED, generated.rows + corrections)
    reporter.on_log(f"wrote {len(generated.rows) + len(corrections)} rows")
    return {"generated": len(generated.rows), "corrections": len(corrections)} | generated.result


def designer_corrections(dataset: Dataset, task: Task) -> list[dict[str, Any]]:
    """Playground corrections of the task not used yet (or already claimed by this dataset, on a re-run), marked
    used by it."""
    rows = []
    with transaction.atomic():
        pending = Correction.objects.select_for_update().filter(
            Q(used_in_dataset__isnull=True) | Q(used_in_dataset=dataset), task_type=task.name,
        ).select_related("request")
        for correction in pending:
            answer = correction.training_answer
            if answer is None:
                continue
            rows.append(task.labelled_row(correction.request.text, answer, language=correction.language,
                                          row_id=f"c{correction.pk:06d}", origin="correction"))
            correction.used_in_dataset = dataset
            correction.save(update_fields=["used_in_dataset"])
    return rows


def filter_rows(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's cleaning, with its default options overridden by the dataset's params["clean"]."""
    dataset = run.dataset
    task = dataset.task
    rows = read_jsonl(dataset.directory / GENERATED)
    options = {**task.clean_options, **dataset.params.get("clean", {})}
    reporter.on_log(f"filtering {len(rows)} rows" + (f" with {options}" if options else ""))
    result = task.clean(rows, options, on_progress=reporter.on_progress)
    by_reason = result.by_reason()
    write_jsonl(dataset.directory / KEPT, result.kept)
    write_jsonl(dataset.directory / DROPPED, result.dropped)
    write_json(dataset.directory / FILTER_REPORT, by_reason)
    with transaction.atomic():
        DroppedExample.objects.filter(dataset=dataset).delete()
        DroppedExample.objects.bulk_create(
            DroppedExample(dataset=dataset, external_id=str(row.get("id"))[:_ID_LENGTH], request_text=task.text(row),
                           language=row.get("language") or "", target=task.answer(row), reason=row["reason"],
                           detail=str(row.get("detail", ""))[:300])
            for row in result.dropped
        )
    reporter.on_progress(1, 1)
    reporter.on_log(f"kept {len(result.kept)}, dropped {len(result.dropped)}")
    return {"kept": len(result.kept), "dropped": len(result.dropped), "dropped_by_reason": by_reason}


def split(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's split (stratified where it has labels), the split files, their exports and statistics."""
    dataset = run.dataset
    task = dataset.task
    rows = read_jsonl(dataset.directory / KEPT)
    if len(rows) < MIN_ROWS_TO_SPLIT:
        raise ValueError(f"only {len(rows)} rows survived the filters; at least {MIN_ROWS_TO_SPLIT} are needed to split")
    splits = task.split(rows, seed=dataset.params.get("seed", 0))
    stats = task.split_stats(splits, read_json(dataset.directory / FILTER_REPORT))
    write_splits(dataset.directory, task, splits, stats)
    with transaction.atomic():
        Example.objects.filter(dataset=dataset).delete()
        Example.objects.bulk_create(example_rows(dataset, task, splits))
        dataset.stats = stats
        dataset.save(update_fields=["stats"])
    reporter.on_progress(1, 1)
    reporter.on_log(f"split: {stats['counts']}")
    return {"counts": stats["counts"]}


def example_rows(dataset: Dataset, task: Task, splits: Mapping[str, Sequence[dict[str, Any]]]) -> Iterable[Example]:
    for name in SPLITS:
        for row in splits[name]:
            yield Example(dataset=dataset, split=name, external_id=str(row.get("id"))[:_ID_LENGTH],
                          request_text=task.text(row), language=row.get("language") or "", target=task.answer(row),
                          constraints=row.get("constraints", []))


def freeze(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The test split as a frozen eval set of the dataset's task, hashed over the task's fields."""
    dataset = run.dataset
    task = dataset.task
    if dataset.frozen_eval_set:
        reporter.on_log(f"already frozen as {dataset.frozen_eval_set.content_hash}; left unchanged")
        return {"content_hash": dataset.frozen_eval_set.content_hash, "created": False}
    test_rows = read_jsonl(dataset.directory / "test.jsonl")
    frozen = freeze_rows(test_rows, settings.DATA_DIR / "frozen", task.hashed_fields)
    near = near_duplicates_against(test_rows, read_jsonl(dataset.directory / "train.jsonl"), task.text_key)
    eval_set, _ = FrozenEvalSet.objects.get_or_create(
        content_hash=frozen.content_hash,
        defaults={"path": str(frozen.path), "size": frozen.size, "near_duplicates_with_train": near,
                  "task_type": task.name},
    )
    dataset.frozen_eval_set = eval_set
    dataset.save(update_fields=["frozen_eval_set"])
    reporter.on_progress(1, 1)
    reporter.on_log(f"froze {frozen.size} examples as {frozen.content_hash} ({near} near-duplicates of train)")
    return {"content_hash": frozen.content_hash, "size": frozen.size, "created": frozen.created,
            "near_duplicates_with_train": near}
