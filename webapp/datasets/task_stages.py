"""The data stages of a text-task dataset (pipeline.tasks.registry), as the workers run them.

webapp.datasets.stages hands a dataset whose task_type is not the flagship to
these functions; freeze is shared. The files are the flagship's
(generated.jsonl -> kept.jsonl, dropped.jsonl, filter_report.json ->
train|valid|test.jsonl, ft_split_stats.json), with the task's own rows in
them; Example and DroppedExample mirror them with the text as `request_text`
and the gold answer as `target`. Every call goes through the task object, so
no task type is named here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from pipeline.data.build_train_valid_test import SPLITS, STATS_FILE
from pipeline.data.jsonl import read_json, read_jsonl, write_json, write_jsonl
from webapp.datasets.models import Dataset, DroppedExample, Example
from webapp.datasets.stages import DROPPED, FILTER_REPORT, GENERATED, KEPT, MIN_ROWS_TO_SPLIT
from webapp.runs.models import StageRun
from webapp.runs.reporting import RunReporter

_ID_LENGTH = Example._meta.get_field("external_id").max_length


def generate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's offline demo rows (deterministic for the seed)."""
    dataset, params = run.dataset, run.dataset.params
    task = dataset.text_task
    reporter.on_log(f"writing {params['size']} {task.name} demo rows ({params['language']}, seed {params['seed']})")
    rows = task.demo_rows(params["size"], params["seed"], params["language"], on_progress=reporter.on_progress)
    write_jsonl(dataset.directory / GENERATED, rows)
    reporter.on_log(f"wrote {len(rows)} rows")
    return {"generated": len(rows)}


def clean(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's cleaning with its default options (overridden by the dataset's params["clean"])."""
    dataset = run.dataset
    task = dataset.text_task
    rows = read_jsonl(dataset.directory / GENERATED)
    options = {**task.clean_options, **dataset.params.get("clean", {})}
    reporter.on_log(f"cleaning {len(rows)} rows with {options}")
    result = task.clean(rows, options)
    by_reason = dict(Counter(row["reason"] for row in result.dropped))
    write_jsonl(dataset.directory / KEPT, result.kept)
    write_jsonl(dataset.directory / DROPPED, result.dropped)
    write_json(dataset.directory / FILTER_REPORT, by_reason)
    with transaction.atomic():
        DroppedExample.objects.filter(dataset=dataset).delete()
        DroppedExample.objects.bulk_create(
            DroppedExample(dataset=dataset, external_id=str(row["id"])[:_ID_LENGTH], request_text=row["text"],
                           language=row.get("language") or "", target=row["answer"], reason=row["reason"],
                           detail=str(row.get("detail", ""))[:300])
            for row in result.dropped
        )
    reporter.on_progress(1, 1)
    reporter.on_log(f"kept {len(result.kept)}, dropped {len(result.dropped)} {by_reason}")
    return {"kept": len(result.kept), "dropped": len(result.dropped), "dropped_by_reason": by_reason}


def split(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The task's split (stratified where it has labels), the split files and their statistics."""
    dataset = run.dataset
    rows = read_jsonl(dataset.directory / KEPT)
    if len(rows) < MIN_ROWS_TO_SPLIT:
        raise ValueError(f"only {len(rows)} rows survived cleaning; at least {MIN_ROWS_TO_SPLIT} are needed to split")
    splits = dataset.text_task.split(rows, seed=dataset.params.get("seed", 0))
    stats = split_stats(splits, read_json(dataset.directory / FILTER_REPORT))
    for name in SPLITS:
        write_jsonl(dataset.directory / f"{name}.jsonl", splits[name])
    write_json(dataset.directory / STATS_FILE, stats)
    with transaction.atomic():
        Example.objects.filter(dataset=dataset).delete()
        Example.objects.bulk_create(example_rows(dataset, splits))
        dataset.stats = stats
        dataset.save(update_fields=["stats"])
    reporter.on_progress(1, 1)
    reporter.on_log(f"split: {stats['counts']}")
    return {"counts": stats["counts"]}


def split_stats(splits: Mapping[str, list[dict[str, Any]]], dropped_by_reason: Mapping[str, int]) -> dict[str, Any]:
    """Counts, languages and gold answers per split (what the dataset page charts), and the drops."""
    return {
        "counts": {name: len(splits[name]) for name in SPLITS} | {"total": sum(len(splits[name]) for name in SPLITS)},
        "languages": {name: dict(Counter(row.get("language") or "" for row in splits[name])) for name in SPLITS},
        "answers": {name: dict(sorted(Counter(row["answer"] for row in splits[name]).items())) for name in SPLITS},
        "dropped_by_reason": dict(dropped_by_reason),
        "dropped_total": sum(dropped_by_reason.values()),
    }


def example_rows(dataset: Dataset, splits: Mapping[str, list[dict[str, Any]]]) -> Iterable[Example]:
    for name in SPLITS:
        for row in splits[name]:
            yield Example(dataset=dataset, split=name, external_id=str(row["id"])[:_ID_LENGTH],
                          request_text=row["text"], language=row.get("language") or "", target=row["answer"])
