"""Evaluating a text-task dataset (pipeline.tasks.registry) as the workers run it.

webapp.evals.stages hands such a run here. The predictors are
pipeline.eval.task_eval's: the task's rules, the base model prompted with the
task's chat, and the chain's trained model (an SFT adapter, or a
classification head). A model predictor reads its model and its prompt
options (the preset's train mode, retrieved context) from the chain's
training run, so prompt_baseline and fine_tuned see the same prompts.

Each example becomes an EvalExample (text as `request_text`, gold answer as
`target`, the parsed answer, `abs_error` 0 when right and 1 when wrong); the
task's metrics become long-format Metric rows; the task's chart data goes into
the run's result for the comparison page. Nothing here names a task type.
"""

from __future__ import annotations

from typing import Any

from pipeline.data.jsonl import read_jsonl, write_json, write_jsonl
from pipeline.eval.runner import EvalStopped
from pipeline.eval.task_eval import run_task_eval, task_predictor
from pipeline.tasks.registry import prepare_rows
from webapp.evals.models import EvalExample
from webapp.evals.stages import replace_results
from webapp.runs import tracking
from webapp.runs.models import StageRun
from webapp.runs.reporting import Cancelled, RunReporter
from webapp.runs.training import run_dir

EVAL_ROWS = "eval_rows.jsonl"


def evaluate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """One predictor on the dataset's frozen eval set."""
    params, dataset = run.params, run.dataset
    task = dataset.text_task
    if not dataset.frozen_eval_set:
        raise ValueError(f"dataset #{dataset.pk} has no frozen eval set yet")
    mode = params["predictor"]
    trained = StageRun.objects.filter(pk=params.get("train_run_id")).first()
    training = trained.params if trained else {}
    options: dict[str, Any] = {}
    if mode != "rule_baseline":
        options = {"model_name": params.get("model_name") or training.get("model_name"),
                   "train_mode": training.get("train_mode"),
                   "train_rows": prepare_rows(task, read_jsonl(dataset.directory / "train.jsonl"), training)}
    if mode == "fine_tuned":
        if not trained or not trained.result.get("adapter_dir"):
            raise ValueError(f"training run #{params.get('train_run_id')} has no adapter")
        options |= {"adapter": trained.result["adapter_dir"],
                    "trainer": "cls_head" if training.get("backend") == "cls_head" else "sft"}
    reporter.on_log(f"loading {task.name} {mode} {options.get('model_name') or ''}".strip())
    predictor = task_predictor(task, mode, **options)
    with tracking.open_for(run, reporter, model_id=predictor.model_id) as tracker:
        try:
            result = run_task_eval(
                task, predictor, read_jsonl(dataset.frozen_eval_set.path), params=training,
                batch_size=params.get("batch_size", 8), on_progress=reporter.update_progress,
                on_log=reporter.on_log, should_stop=reporter.cancel_requested,
                dataset_version=dataset.version, seed=dataset.params.get("seed"),
            )
        except EvalStopped as stopped:
            raise Cancelled(f"cancelled by a user after {stopped.done} of {stopped.total} examples") from None
        tracker.summary(result.metrics)
        write_jsonl(run_dir(run) / EVAL_ROWS, result.rows)
        summary = write_json(run_dir(run) / "eval_summary.json",
                             {"provenance": result.provenance, "metrics": result.metrics, "charts": result.charts})
        tracker.log_artifact(summary, f"eval-summary-run{run.pk}", "eval-summary")
    replace_results(run, (
        EvalExample(run=run, index=row["index"], request_text=row["text"], language=row.get("language") or "",
                    target=row["answer"], raw_output=row["raw"], parsed=row["parsed"],
                    valid=row["parsed"] is not None, latency_ms=row["latency_ms"],
                    abs_error=0.0 if row["correct"] else 1.0)
        for row in result.rows
    ), result.metrics)
    return ({"task": task.name, "metrics": result.metrics, "charts": result.charts, "provenance": result.provenance}
            | tracking.result_fields(run, tracker))
