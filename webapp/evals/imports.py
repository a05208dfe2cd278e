"""Import a `python -m pipeline.eval.run_eval` result (its per-example JSONL and its metrics JSON) as a finished
evaluation row, so an evaluation run outside the web app reaches the comparison and A/B pages like any other.

The result must be of a frozen set ftloop knows (by the hash its provenance names) and of a registered task
type; every row is checked before anything is stored, and nothing is stored when one is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from pipeline.data.jsonl import write_json, write_jsonl
from pipeline.tasks.registry import get_task, task_names
from webapp.datasets.models import Dataset, FrozenEvalSet
from webapp.evals.models import EvalExample
from webapp.evals.stages import EVAL_ROWS, replace_results
from webapp.runs.models import StageRun

ROW_KEYS = ("index", "raw", "parsed", "valid", "latency_ms", "error")


class ImportRefused(ValueError):
    """What is wrong with the files, in words for the user."""


def parse_files(rows_text: str, metrics_text: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows and the metrics document of a run_eval result; ImportRefused names the first problem."""
    try:
        summary = json.loads(metrics_text)
    except (json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise ImportRefused(f"the metrics file is not JSON ({exc})") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("metrics"), dict) \
            or not isinstance(summary.get("provenance"), dict):
        raise ImportRefused('the metrics file needs "metrics" and "provenance" objects (run_eval --metrics-out)')
    rows = []
    for number, line in enumerate(rows_text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (json.JSONDecodeError, ValueError, RecursionError) as exc:
            raise ImportRefused(f"results line {number} is not JSON ({exc})") from None
        missing = [key for key in ROW_KEYS if not isinstance(row, dict) or key not in row]
        if missing:
            raise ImportRefused(f"results line {number} lacks {', '.join(missing)} (run_eval --out writes them)")
        rows.append(row)
    if not rows:
        raise ImportRefused("the results file has no rows")
    return rows, summary


def import_result(rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any], user=None,
                  source: str = "run_eval") -> StageRun:
    """A finished EVALUATE row holding the result, on the frozen set its provenance names."""
    provenance, metrics = dict(summary["provenance"]), dict(summary["metrics"])
    task_name = provenance.get("task")
    if task_name not in task_names():
        raise ImportRefused(f"unknown task type {task_name!r} in the provenance; expected one of "
                            f"{', '.join(task_names())}")
    task = get_task(task_name)
    eval_set = FrozenEvalSet.objects.filter(content_hash=provenance.get("eval_set_hash") or "").first()
    if eval_set is None:
        raise ImportRefused(f"no frozen set has the hash {str(provenance.get('eval_set_hash'))[:12]}…; evaluate on a "
                            "set frozen here (its file is under FTLOOP_DATA_DIR/frozen)")
    if len(rows) != eval_set.size:
        raise ImportRefused(f"{len(rows)} result rows for a frozen set of {eval_set.size} examples")
    dataset = (Dataset.objects.filter(frozen_eval_set=eval_set).first()
               or Dataset.objects.filter(task_type=task.name, stats__has_key="counts").order_by("-pk").first())
    if dataset is None:
        raise ImportRefused(f"there is no {task.name} dataset to file the evaluation under")
    try:
        examples = [EvalExample(index=int(row["index"]), request_text=task.text(row),
                                language=row.get("language") or "", target=task.answer(row),
                                raw_output=row["raw"] or "", parsed=row["parsed"], valid=bool(row["valid"]),
                                latency_ms=float(row["latency_ms"]), abs_error=float(row["error"])) for row in rows]
    except (KeyError, TypeError, ValueError) as exc:
        raise ImportRefused(f"a result row is not one of {task.name}'s ({type(exc).__name__}: {exc})") from None
    predictor = str(provenance.get("predictor") or "imported")
    with transaction.atomic():
        run = StageRun.objects.create(
            kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS, dataset=dataset, created_by=user,
            params={"predictor": predictor, "eval_set_id": eval_set.pk, "imported_from": source},
            result={"task": task.name, "metrics": metrics, "charts": summary.get("charts") or {},
                    "provenance": provenance, "eval_set_id": eval_set.pk, "imported_from": source},
            progress_done=1, progress_total=1)
        write_jsonl(run.directory / EVAL_ROWS, rows)
        write_json(run.directory / "eval_summary.json", dict(summary))
        for example in examples:
            example.run = run
        replace_results(run, examples, metrics)
    return run
