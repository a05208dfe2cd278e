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

from pipeline.data.build_train_valid_test import write_splits
from pipeline.data.decontaminate import REASON as DECONTAMINATED
from pipeline.data.decontaminate import decontaminate
from pipeline.data.generate_frozen_eval_set import freeze as freeze_rows
from pipeline.data.generate_frozen_eval_set import near_duplicates_against
from pipeline.data.jsonl import read_json, read_jsonl, write_json, write_jsonl
from pipeline.tasks.registry import SPLITS, Task
from webapp.datasets import field
from webapp.datasets.models import Dataset, DroppedExample, Example, FrozenEvalSet
from webapp.runs.models import Cycle, StageRun
from webapp.runs.reporting import RunReporter

GENERATED, KEPT, DROPPED, FILTER_REPORT = "generated.jsonl", "kept.jsonl", "dropped.jsonl", "filter_report.json"
MIN_ROWS_TO_SPLIT = 10
_ID_LENGTH = Example._meta.get_field("external_id").max_length


def inherited_rows(dataset: Dataset) -> list[dict[str, Any]]:
    """The parent's train and valid rows (DESIGN §2: data accumulates), each keeping its split."""
    if dataset.parent is None:
        return []
    return [{**row, "split": name} for name in ("train", "valid")
            for row in read_jsonl(dataset.parent.directory / f"{name}.jsonl")]


def generate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The parent's rows, then the task's generator (a teacher, or its offline demo rows), then the labelled real
    requests assigned to training; each new row records its origin."""
    dataset, params = run.dataset, run.dataset.params
    task = dataset.task
    teacher = params.get("teacher") or task.teachers[0]
    inherited = inherited_rows(dataset)
    if inherited:
        reporter.on_log(f"keeping the {len(inherited)} train and valid rows of dataset #{dataset.parent_id}")
    generated = task.generate(
        size=params["size"], seed=params["seed"], language=params["language"], teacher=teacher,
        oversample=params.get("oversample", []), budget_usd=params.get("teacher_budget_usd"),
        on_progress=reporter.on_progress, on_log=reporter.on_log,
    )
    new_rows = [{**row, "id": f"d{dataset.pk}-{row.get('id')}" if dataset.parent else row.get("id"),
                 "origin": row.get("origin") or f"{teacher} · dataset #{dataset.pk}"} for row in generated.rows]
    labelled = [{**row, "split": "train"} for row in field.training_requests(task, dataset)
                if task.answer(row) is not None] if Cycle.objects.filter(dataset=dataset).exists() else []
    if labelled:
        reporter.on_log(f"adding {len(labelled)} labelled real requests (train split only)")
    write_jsonl(dataset.directory / GENERATED, inherited + new_rows + labelled)
    lineage = {"parent": dataset.parent_id, "inherited": len(inherited), "generated": len(new_rows),
               "labelled": len(labelled), "teacher": teacher, "oversample": params.get("oversample", [])}
    Dataset.objects.filter(pk=dataset.pk).update(lineage=lineage)
    reporter.on_log(f"wrote {len(inherited) + len(new_rows) + len(labelled)} rows")
    return {"generated": len(new_rows), "inherited": len(inherited), "labelled": len(labelled)} | generated.result


def eval_texts(task: Task) -> list[str]:
    """Every text of every frozen set of the task: what no training split may hold (DESIGN §2)."""
    return [task.text(row) for frozen in FrozenEvalSet.objects.filter(task_type=task.name)
            for row in read_jsonl(frozen.path)]


def store_dropped(dataset: Dataset, task: Task, dropped: Sequence[Mapping[str, Any]], by_reason: Mapping[str, int],
                  append: bool = False) -> None:
    """dropped.jsonl, filter_report.json and the DroppedExample rows (replaced, or extended with `append`)."""
    previous = read_jsonl(dataset.directory / DROPPED) if append else []
    write_jsonl(dataset.directory / DROPPED, [*previous, *dropped])
    write_json(dataset.directory / FILTER_REPORT, dict(by_reason))
    with transaction.atomic():
        if not append:
            DroppedExample.objects.filter(dataset=dataset).delete()
        DroppedExample.objects.bulk_create(
            DroppedExample(dataset=dataset, external_id=str(row.get("id"))[:_ID_LENGTH], request_text=task.text(row),
                           language=row.get("language") or "", target=task.answer(row), reason=row["reason"],
                           detail=str(row.get("detail", ""))[:300])
            for row in dropped
        )


def filter_rows(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's cleaning (its default options overridden by the dataset's params["clean"]), then
    decontamination: no text of any frozen set of the task stays (reason "in_eval_set")."""
    dataset = run.dataset
    task = dataset.task
    rows = read_jsonl(dataset.directory / GENERATED)
    options = {**task.clean_options, **dataset.params.get("clean", {})}
    reporter.on_log(f"filtering {len(rows)} rows" + (f" with {options}" if options else ""))
    result = task.clean(rows, options, on_progress=reporter.on_progress)
    kept, contaminated = decontaminate(result.kept, eval_texts(task), task.text)
    dropped = [*result.dropped, *contaminated]
    by_reason = result.by_reason() | {DECONTAMINATED: len(contaminated)}
    write_jsonl(dataset.directory / KEPT, kept)
    store_dropped(dataset, task, dropped, by_reason)
    reporter.on_progress(1, 1)
    reporter.on_log(f"kept {len(kept)}, dropped {len(dropped)} ({len(contaminated)} in an eval set)")
    return {"kept": len(kept), "dropped": len(dropped), "dropped_by_reason": by_reason}


def split(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's split (stratified where it has labels); rows a parent dataset had keep their split, and a dataset
    with a parent adds no test split (its loop's yardsticks are fixed). Train and valid rows that nearly repeat a
    test row are dropped as "in_eval_set", since the test split becomes a frozen set."""
    dataset = run.dataset
    task = dataset.task
    rows = read_jsonl(dataset.directory / KEPT)
    if len(rows) < MIN_ROWS_TO_SPLIT:
        raise ValueError(f"only {len(rows)} rows survived the filters; at least {MIN_ROWS_TO_SPLIT} are needed to split")
    pinned = [row for row in rows if row.get("split") in SPLITS]
    fresh = [row for row in rows if row.get("split") not in SPLITS]
    fractions = (0.9, 0.1, 0.0) if dataset.parent_id else (0.8, 0.1, 0.1)
    splits = task.split(fresh, seed=dataset.params.get("seed", 0), fractions=fractions) if fresh else \
        {name: [] for name in SPLITS}
    if dataset.parent_id:  # a rounding remainder of the (0.9, 0.1, 0) cut trains
        splits = {"train": splits["train"] + splits["test"], "valid": splits["valid"], "test": []}
    for row in pinned:
        splits[row["split"]].append(row)
    splits = {name: [{key: value for key, value in row.items() if key != "split"} for row in part]
              for name, part in splits.items()}
    by_reason = read_json(dataset.directory / FILTER_REPORT)
    if splits["test"]:
        test_texts = [task.text(row) for row in splits["test"]]
        near_test: list[dict[str, Any]] = []
        for name in ("train", "valid"):
            splits[name], dropped = decontaminate(splits[name], test_texts, task.text)
            near_test += dropped
        if near_test:
            by_reason[DECONTAMINATED] = by_reason.get(DECONTAMINATED, 0) + len(near_test)
            store_dropped(dataset, task, near_test, by_reason, append=True)
    stats = task.split_stats(splits, by_reason)
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
