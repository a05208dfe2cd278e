"""Evaluation and verdict stages as the workers run them, for every task type.

An evaluation runs one predictor (pipeline.eval.predictors) of the dataset's
task on its frozen set through the one runner (pipeline.eval.runner.evaluate);
the verdict judges the evaluations of its own chain (one cycle of a loop, or a
training form's train -> evaluate -> verdict chain) against the task's criteria.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl, write_json, write_jsonl
from pipeline.eval.acceptance import Criterion, LoopStatus, evaluate_criteria, overall
from pipeline.eval.predictors import build_predictor
from pipeline.eval.run_eval import cost_model
from pipeline.eval.runner import EvalStopped
from pipeline.eval.runner import evaluate as run_evaluation
from pipeline.tracking import trace_predictions
from webapp.datasets.models import Dataset
from webapp.evals.models import AcceptanceCriterion, EvalExample, seed_criteria
from webapp.runs import loops, tracking
from webapp.runs.models import Cycle, Metric, StageRun
from webapp.runs.reporting import Cancelled, RunReporter
from webapp.runs.training import write_experiment_record

EVAL_ROWS = "eval_rows.jsonl"


def predictor_options(run: StageRun) -> dict[str, Any]:
    """What `build_predictor` takes for an evaluation row: its own options, and from the chain's training run the
    model (adapter, base model, or the Mistral model it fine-tuned) and the inputs it was trained on."""
    params, dataset = run.params, run.dataset
    mode = params["predictor"]
    if mode == "rule_baseline":
        return {}
    trained = StageRun.objects.filter(pk=params.get("train_run_id")).first()
    training = trained.params if trained else {}
    task = dataset.task
    train_rows = task.prepare_rows(read_jsonl(dataset.directory / "train.jsonl"), training)
    options: dict[str, Any] = {
        "model_name": params.get("model_name") or training.get("model_name"), "decode": params.get("decode"),
        "few_shot_rows": train_rows, "few_shot_k": params.get("few_shot_k"), "train_mode": training.get("train_mode"),
        "train_rows": train_rows, "seed": dataset.params.get("seed") or 0,
    }
    if mode == "fine_tuned":
        if not trained or not (trained.result.get("adapter_dir") or trained.result.get("fine_tuned_model")):
            raise ValueError(f"training run #{params.get('train_run_id')} has no model")
        if trained.result.get("fine_tuned_model"):
            return options | {"mode": "remote", "model_name": trained.result["fine_tuned_model"], "decode": None}
        options["adapter"] = trained.result["adapter_dir"]
    return options


def evaluate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """One predictor on the dataset's frozen eval set; per-example rows and long-format metrics."""
    params, dataset = run.params, run.dataset
    task = dataset.task
    if not dataset.frozen_eval_set:
        raise ValueError(f"dataset #{dataset.pk} has no frozen eval set yet")
    mode = params["predictor"]
    options = predictor_options(run)
    build_mode = options.pop("mode", mode)
    reporter.on_log(f"loading {task.name} {mode} {options.get('model_name') or ''}".strip())
    predictor = build_predictor(task, build_mode, **options)
    trained = StageRun.objects.filter(pk=params.get("train_run_id")).first()
    with tracking.open_for(run, reporter, model_id=predictor.model_id) as tracker:
        traced = trace_predictions(predictor, project=settings.FTLOOP_TRACKING_PROJECT, on_log=reporter.on_log,
                                   attributes={"dataset_version": dataset.version, "run_id": str(run.pk),
                                               "scenario": f"evaluate/{mode}"})
        try:
            result = run_evaluation(
                task, traced, read_jsonl(dataset.frozen_eval_set.path), params=trained.params if trained else {},
                batch_size=params.get("batch_size", 8), on_progress=reporter.update_progress,
                on_log=reporter.on_log, should_stop=reporter.cancel_requested,
                cost=cost_model(build_mode, settings.FTLOOP_HARDWARE_HOURLY_USD, options.get("model_name"),
                                settings.FTLOOP_MISTRAL_PRICES),
                dataset_version=dataset.version, seed=dataset.params.get("seed"),
                extra_provenance={key: value for key, value in (("decode", params.get("decode")), (
                    "train_mode", trained.params.get("train_mode") if trained else None)) if value},
            )
        except EvalStopped as stopped:
            raise Cancelled(f"cancelled by a user after {stopped.done} of {stopped.total} examples") from None
        tracker.summary(result.metrics)
        write_jsonl(run.directory / EVAL_ROWS, result.rows)
        summary = write_json(run.directory / "eval_summary.json",
                             {"provenance": result.provenance, "metrics": result.metrics, "charts": result.charts})
        tracker.log_artifact(summary, f"eval-summary-run{run.pk}", "eval-summary")
    replace_results(run, (
        EvalExample(run=run, index=row["index"], request_text=task.text(row), language=row.get("language") or "",
                    target=task.answer(row), raw_output=row["raw"], parsed=row["parsed"], valid=row["valid"],
                    latency_ms=row["latency_ms"], abs_error=row["error"])
        for row in result.rows
    ), result.metrics)
    return ({"task": task.name, "metrics": result.metrics, "charts": result.charts, "provenance": result.provenance}
            | tracking.result_fields(run, tracker))


def replace_results(run: StageRun, examples: Iterable[EvalExample], metrics: Mapping[str, float | None]) -> None:
    """The run's EvalExample rows and long-format metric rows (step 0), replacing those of an earlier attempt."""
    with transaction.atomic():
        EvalExample.objects.filter(run=run).delete()
        EvalExample.objects.bulk_create(examples)
        Metric.objects.filter(run=run).delete()
        Metric.objects.bulk_create(
            Metric(run=run, key=key, step=0, value=value) for key, value in metrics.items() if value is not None
        )


def tracking_links(cycle: Cycle) -> dict[str, str]:
    """What §7.4 asks a cycle of a loop to link (chain_links of its runs)."""
    return chain_links(cycle.runs.all(), cycle.dataset, f"cycle={cycle.pk}")


def chain_links(chain: QuerySet[StageRun], dataset: Dataset | None, compare_query: str) -> dict[str, str]:
    """What §7.4 asks every run to link; absent keys make the criterion fail with their names."""
    links: dict[str, str] = {}
    if dataset:
        links["dataset_artifact"] = reverse("dataset_download", args=[dataset.pk, "train.jsonl"])
    train = chain.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS).first()
    if train and train.result.get("adapter_dir"):
        links["adapter_artifact"] = reverse("run_artifact", args=[train.pk, "adapter.zip"])
    if train and train.result.get("tracker_url"):
        links["tracker_run"] = train.result["tracker_url"]
    if chain.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS).exists():
        links["eval_summary"] = reverse("compare") + "?" + compare_query
    return links


def criteria_for(dataset: Dataset) -> list[Criterion]:
    """The enabled criterion rows of the dataset's task type and those of every task type (DESIGN §7)."""
    seed_criteria(dataset.task)  # a task type registered after the last migrate gets its defaults now
    rows = AcceptanceCriterion.objects.filter(Q(task_type=dataset.task_type) | Q(task_type=""), enabled=True)
    return [row.to_criterion() for row in rows]


def verdict(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Judge the chain's evaluations against the acceptance criteria; in a loop, hand the outcome to the loop
    (webapp.runs.loops.finish_cycle), which records it and starts the next cycle.

    The chain's training run gets its experiment record again, now with the evaluations.
    """
    cycle, dataset = run.cycle, run.dataset
    chain = StageRun.objects.filter(chain_id=run.chain_id)
    evals = chain.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
    metrics = {e.params["predictor"]: e.result["metrics"] for e in evals}
    hashes = {e.params["predictor"]: e.result["provenance"]["eval_set_hash"] for e in evals}
    loop_status = None
    if cycle and cycle.index + 1 >= cycle.loop.cycles:  # the loop criterion judges the last cycle, this one done
        loop = cycle.loop
        loop_status = LoopStatus(loop.started_cycles, loop.completed_cycles + (0 if cycle.completed else 1))
    verdicts = evaluate_criteria(
        criteria_for(dataset),
        metrics,
        eval_set_hashes=hashes,
        loop=loop_status,
        tracking=tracking_links(cycle) if cycle else chain_links(chain, dataset, "ids=" + ",".join(
            str(e.pk) for e in evals)),
    )
    stored = [v.to_dict() for v in verdicts]
    for v in verdicts:
        reporter.on_log(f"{'PASS' if v.passed else 'n/a ' if v.passed is None else 'FAIL'} {v.criterion.key}: {v.reason}")
    train = chain.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS).first()
    if train:
        write_experiment_record(train, train.result, list(evals), [eval_command(e) for e in evals])
    if cycle:
        fine_tuned = evals.filter(params__predictor="fine_tuned").first()
        bands = dataset.task.error_bands(eval_rows(fine_tuned)) if fine_tuned else []
        next_cycle = loops.finish_cycle(cycle, stored, bands)
        if next_cycle:
            reporter.on_log(f"started cycle {next_cycle.index + 1} oversampling {next_cycle.oversample}")
    return {"verdicts": stored, "passed": overall(verdicts)}


def eval_command(evaluation: StageRun) -> str:
    """The command line that repeats an evaluation outside the web app (for the experiment record)."""
    dataset, params, result = evaluation.dataset, evaluation.params, evaluation.result
    provenance = result.get("provenance", {})
    predictor = params["predictor"]
    parts = [f"python -m pipeline.eval.run_eval --task {dataset.task_type} --mode {predictor}",
             f"--eval-set {dataset.frozen_eval_set.path}", f"--out results/run{evaluation.pk}-{predictor}.jsonl"]
    if predictor != "rule_baseline":
        parts.append(f"--model-name {provenance.get('model_id') or params.get('model_name')}")
        parts.append(f"--train-file {dataset.directory / 'train.jsonl'}")
    if provenance.get("adapter"):
        parts.append(f"--adapter {provenance['adapter']}")
    trained = StageRun.objects.filter(pk=params.get("train_run_id")).first()
    if trained and trained.params.get("preset"):
        parts.append(f"--preset {trained.params['preset']}")
    if params.get("decode"):
        parts.append(f"--decode {params['decode']}")
    return " ".join(parts)


def eval_rows(run: StageRun) -> list[dict[str, Any]]:
    """An evaluation's stored rows (what the task's error bands and the A/B statistics read)."""
    path = run.directory / EVAL_ROWS
    return read_jsonl(path) if path.is_file() else []
