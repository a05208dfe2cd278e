"""The data stages as the workers run them: read the dataset's files, call pipeline/, store.

Each function takes the StageRun and its reporter and returns the run's result
dict. Files are the source of truth between stages; rows in Example and
DroppedExample mirror them for the web pages. A text-task dataset (any
task_type but the flagship) goes to webapp.datasets.task_stages; freeze serves both.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from pipeline.data.build_train_valid_test import SPLITS, split_rows, split_stats, write_splits
from pipeline.data.generate_frozen_eval_set import ALL_FIELDS, HASHED_FIELDS
from pipeline.data.generate_frozen_eval_set import freeze as freeze_rows
from pipeline.data.generate_frozen_eval_set import near_duplicates_against
from pipeline.data.generate_teacher_pairs import Band, generate_pairs
from pipeline.data.jsonl import read_json, read_jsonl, write_json, write_jsonl
from pipeline.data.mistral_teacher import MistralTeacher
from pipeline.data.quality_filter import quality_filter
from pipeline.data.teachers import get_teacher
from pipeline.mistral import Budget
from pipeline.tasks.hidden_params import constraints_for
from webapp.datasets.models import DroppedExample, Example, FrozenEvalSet
from webapp.playground.models import Correction
from webapp.runs.models import Cycle, StageRun
from webapp.runs.reporting import RunReporter

GENERATED, KEPT, DROPPED, FILTER_REPORT = "generated.jsonl", "kept.jsonl", "dropped.jsonl", "filter_report.json"
MIN_ROWS_TO_SPLIT = 10


def generate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    if run.dataset.text_task:
        from webapp.datasets import task_stages  # it builds on this module

        return task_stages.generate(run, reporter)
    dataset, params = run.dataset, run.dataset.params
    teacher = get_teacher(params["teacher"])
    if params.get("teacher_budget_usd") is not None and isinstance(teacher, MistralTeacher):
        teacher.budget = Budget(max_usd=params["teacher_budget_usd"])
    reporter.on_log(f"generating {params['size']} pairs ({params['language']}) with the {teacher.name} teacher")
    rows = generate_pairs(
        size=params["size"],
        seed=params["seed"],
        language=params["language"],
        teacher=teacher,
        oversample=[Band.parse(band) for band in params.get("oversample", [])],
        on_progress=reporter.on_progress,
        on_log=reporter.on_log,
    )
    corrections = designer_corrections(dataset) if Cycle.objects.filter(dataset=dataset).exists() else []
    if corrections:
        reporter.on_log(f"adding {len(corrections)} designer corrections (train split only)")
    write_jsonl(dataset.directory / GENERATED, rows + corrections)
    reporter.on_log(f"wrote {len(rows) + len(corrections)} pairs")
    result: dict[str, Any] = {"generated": len(rows), "corrections": len(corrections)}
    if isinstance(teacher, MistralTeacher):  # the cost ledger of the API teacher's calls
        result |= {"teacher_usd": teacher.ledger.total_usd(), "costs": teacher.ledger.to_rows()}
    return result


def designer_corrections(dataset) -> list[dict[str, Any]]:
    """Playground corrections not used yet (or already claimed by this dataset, on a re-run), marked used by it."""
    rows = []
    with transaction.atomic():
        pending = Correction.objects.select_for_update().filter(
            Q(used_in_dataset__isnull=True) | Q(used_in_dataset=dataset)).select_related("request")
        for correction in pending:
            target = correction.training_target
            if target is None:
                continue
            rows.append({
                "id": f"c{correction.pk:06d}",
                "request_text": correction.request.text,
                "language": correction.language,
                "target": target,
                "constraints": constraints_for(target),
                "teacher": "correction",
                "usage": {},
            })
            correction.used_in_dataset = dataset
            correction.save(update_fields=["used_in_dataset"])
    return rows


def filter_rows(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    if run.dataset.text_task:
        from webapp.datasets import task_stages

        return task_stages.clean(run, reporter)
    dataset = run.dataset
    rows = read_jsonl(dataset.directory / GENERATED)
    reporter.on_log(f"filtering {len(rows)} rows")
    result = quality_filter(rows, on_progress=reporter.on_progress)
    write_jsonl(dataset.directory / KEPT, result.kept)
    write_jsonl(dataset.directory / DROPPED, result.dropped)
    write_json(dataset.directory / FILTER_REPORT, result.report)
    with transaction.atomic():
        DroppedExample.objects.filter(dataset=dataset).delete()
        DroppedExample.objects.bulk_create(
            DroppedExample(
                dataset=dataset,
                external_id=row["id"],
                request_text=row["request_text"],
                language=row.get("language", ""),
                target=row["target"],
                reason=row["reason"],
                detail=row["detail"][:300],
            )
            for row in result.dropped
        )
    reporter.on_log(f"kept {len(result.kept)}, dropped {len(result.dropped)}")
    return {"kept": len(result.kept), "dropped": len(result.dropped), "dropped_by_reason": result.report}


def split(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    if run.dataset.text_task:
        from webapp.datasets import task_stages

        return task_stages.split(run, reporter)
    dataset = run.dataset
    rows = read_jsonl(dataset.directory / KEPT)
    if len(rows) < MIN_ROWS_TO_SPLIT:
        raise ValueError(f"only {len(rows)} rows survived the filters; at least {MIN_ROWS_TO_SPLIT} are needed to split")
    splits = split_rows(rows, seed=dataset.params.get("seed", 0))
    stats = split_stats(splits, read_json(dataset.directory / FILTER_REPORT))
    write_splits(dataset.directory, splits, stats)
    with transaction.atomic():
        Example.objects.filter(dataset=dataset).delete()
        Example.objects.bulk_create(
            Example(
                dataset=dataset,
                split=name,
                external_id=row["id"],
                request_text=row["request_text"],
                language=row.get("language", ""),
                target=row["target"],
                constraints=row.get("constraints", []),
            )
            for name in SPLITS
            for row in splits[name]
        )
        dataset.stats = stats
        dataset.save(update_fields=["stats"])
    reporter.on_progress(1, 1)
    reporter.on_log(f"split: {stats['counts']}")
    return {"counts": stats["counts"]}


def freeze(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The test split as a frozen eval set; a text task's rows are hashed whole (every key defines them)."""
    dataset = run.dataset
    if dataset.frozen_eval_set:
        reporter.on_log(f"already frozen as {dataset.frozen_eval_set.content_hash}; left unchanged")
        return {"content_hash": dataset.frozen_eval_set.content_hash, "created": False}
    fields, text_key = (ALL_FIELDS, "text") if dataset.text_task else (HASHED_FIELDS, "request_text")
    test_rows = read_jsonl(dataset.directory / "test.jsonl")
    frozen = freeze_rows(test_rows, settings.DATA_DIR / "frozen", fields)
    near = near_duplicates_against(test_rows, read_jsonl(dataset.directory / "train.jsonl"), text_key)
    eval_set, _ = FrozenEvalSet.objects.get_or_create(
        content_hash=frozen.content_hash,
        defaults={"path": str(frozen.path), "size": frozen.size, "near_duplicates_with_train": near},
    )
    dataset.frozen_eval_set = eval_set
    dataset.save(update_fields=["frozen_eval_set"])
    reporter.on_progress(1, 1)
    reporter.on_log(f"froze {frozen.size} examples as {frozen.content_hash} ({near} near-duplicates of train)")
    return {"content_hash": frozen.content_hash, "size": frozen.size, "created": frozen.created,
            "near_duplicates_with_train": near}
