"""Evaluation and verdict stages as the workers run them.

A text-task dataset is evaluated by webapp.evals.task_eval; the verdict serves
both, judging the evaluations of its own chain (one cycle of a loop, or a
training form's train -> evaluate -> verdict chain).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl, write_json
from pipeline.eval.error_bands import worst_bands
from pipeline.eval.acceptance import LOOP_METRIC, TRACKING_METRIC, Criterion, LoopStatus, evaluate_criteria, overall
from pipeline.eval.run_eval import cost_model, predictor_factory
from pipeline.eval.runner import EvalStopped, run_eval
from pipeline.tasks.hidden_params import AXES, NEUTRAL
from pipeline.tracking import trace_predictions
from webapp.evals.models import AcceptanceCriterion, EvalExample
from webapp.runs import tracking
from webapp.runs.models import Cycle, Metric, StageRun
from webapp.datasets.models import Dataset
from webapp.runs.training import run_dir, write_experiment_record
from webapp.runs.reporting import Cancelled, RunReporter

PREDICTORS = ("rule_baseline", "prompt_baseline", "fine_tuned")


def evaluate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """One predictor on the dataset's frozen eval set; per-example rows and long-format metrics."""
    params, dataset = run.params, run.dataset
    if dataset.text_task:
        from webapp.evals import task_eval  # it builds on this module

        return task_eval.evaluate(run, reporter)
    if not dataset.frozen_eval_set:
        raise ValueError(f"dataset #{dataset.pk} has no frozen eval set yet")
    mode = params["predictor"]
    options: dict[str, Any] = {}
    if mode == "remote":
        options = {"model_name": params["model_name"]}
    elif mode != "rule_baseline":
        options = {"model_name": params.get("model_name"), "decode": params.get("decode")}
    if mode == "fine_tuned":
        trained = StageRun.objects.get(pk=params["train_run_id"])
        if not trained.result.get("adapter_dir"):
            raise ValueError(f"training run #{trained.pk} has no adapter")
        options |= {"adapter": trained.result["adapter_dir"], "model_name": trained.params.get("model_name")}
    if mode in ("prompt_baseline", "remote"):
        options |= {"few_shot_path": dataset.directory / "train.jsonl", "few_shot_k": params.get("few_shot_k", 4)}
    reporter.on_log(f"loading {mode} {options.get('model_name') or ''}".strip())
    predictor = predictor_factory(mode, **options)
    with tracking.open_for(run, reporter, model_id=predictor.model_id) as tracker:
        traced = trace_predictions(predictor, project=settings.FTLOOP_TRACKING_PROJECT, on_log=reporter.on_log,
                                   attributes={"dataset_version": dataset.version, "run_id": str(run.pk),
                                               "scenario": f"evaluate/{mode}"})
        try:
            result = run_eval(
                traced,
                read_jsonl(dataset.frozen_eval_set.path),
                batch_size=params.get("batch_size", 8),
                on_progress=reporter.update_progress,
                on_log=reporter.on_log,
                should_stop=reporter.cancel_requested,
                cost=cost_model(mode, settings.FTLOOP_HARDWARE_HOURLY_USD, options.get("model_name"),
                                settings.FTLOOP_MISTRAL_PRICES),
                dataset_version=dataset.version,
                seed=dataset.params.get("seed"),
            )
        except EvalStopped as stopped:
            raise Cancelled(f"cancelled by a user after {stopped.done} of {stopped.total} examples") from None
        tracker.summary(result.metrics)
        summary = write_json(run_dir(run) / "eval_summary.json", {"provenance": result.provenance, "metrics": result.metrics})
        tracker.log_artifact(summary, f"eval-summary-run{run.pk}", "eval-summary")
    replace_results(run, (
        EvalExample(
            run=run,
            index=row["index"],
            request_text=row["request_text"],
            language=row.get("language") or "",
            target=row["target"],
            raw_output=row["raw"],
            parsed=row["parsed"],
            valid=row["valid"],
            latency_ms=row["latency_ms"],
            abs_error=row["mean_abs_error"],
        )
        for row in result.rows
    ), result.metrics)
    return {"metrics": result.metrics, "provenance": result.provenance} | tracking.result_fields(run, tracker)


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
        train_file = "train.jsonl" if dataset.text_task else "chat_train.jsonl"
        links["dataset_artifact"] = reverse("dataset_download", args=[dataset.pk, train_file])
    train = chain.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS).first()
    if train and train.result.get("adapter_dir"):
        links["adapter_artifact"] = reverse("run_artifact", args=[train.pk, "adapter.zip"])
    if train and train.result.get("tracker_url"):
        links["tracker_run"] = train.result["tracker_url"]
    if chain.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS).exists():
        links["eval_summary"] = reverse("compare") + "?" + compare_query
    return links


def criteria_for(dataset: Dataset) -> list[Criterion]:
    """The enabled criterion rows (DESIGN §7); a text task keeps those about the loop and tracking, and is
    judged on its headline metric: fine_tuned better than prompt_baseline, on the same frozen set."""
    rows = [row.to_criterion() for row in AcceptanceCriterion.objects.filter(enabled=True)]
    task = dataset.text_task
    if not task:
        return rows
    metric = task.headline_metric
    direction = "higher" if task.higher_is_better[metric] else "lower"
    headline = Criterion(
        key=f"beats_prompt_baseline_{metric}", metric=metric, comparator="better_than_baseline",
        applies_to="fine_tuned", baseline="prompt_baseline", direction=direction,
        description=f"{task.name}: fine_tuned {'above' if direction == 'higher' else 'below'} prompt_baseline on "
        f"{metric}, on the same frozen eval set",
    )
    return [headline, *(row for row in rows if row.metric in (LOOP_METRIC, TRACKING_METRIC))]


def verdict(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Judge the chain's evaluations against the acceptance criteria; in a loop, start its next cycle.

    The chain's training run gets its experiment record again, now with the evaluations.
    """
    from webapp.runs import loops

    cycle, dataset = run.cycle, run.dataset
    chain = StageRun.objects.filter(chain_id=run.chain_id)
    evals = chain.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
    metrics = {e.params["predictor"]: e.result["metrics"] for e in evals}
    hashes = {e.params["predictor"]: e.result["provenance"]["eval_set_hash"] for e in evals}
    loop, last = (cycle.loop, cycle.index + 1 >= cycle.loop.cycles) if cycle else (None, True)
    if cycle:
        Cycle.objects.filter(pk=cycle.pk).update(completed=True)
    verdicts = evaluate_criteria(
        criteria_for(dataset),
        metrics,
        eval_set_hashes=hashes,
        loop=LoopStatus(loop.started_cycles, loop.completed_cycles) if loop and last else None,
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
        Cycle.objects.filter(pk=cycle.pk).update(verdicts=stored)
    if cycle and not last:
        fine_tuned = evals.filter(params__predictor="fine_tuned").first()
        bands = worst_bands(error_pairs(fine_tuned)) if fine_tuned and not dataset.text_task else []
        next_cycle = loops.start_cycle(loop, cycle.index + 1, bands)
        reporter.on_log(f"started cycle {next_cycle.index + 1} oversampling {next_cycle.oversample}")
    return {"verdicts": stored, "passed": overall(verdicts)}


def eval_command(evaluation: StageRun) -> str:
    """The command line that repeats an evaluation outside the web app (for the experiment record)."""
    dataset, params, result = evaluation.dataset, evaluation.params, evaluation.result
    provenance = result.get("provenance", {})
    predictor = params["predictor"]
    module = "pipeline.eval.task_eval" if dataset.text_task else "pipeline.eval.run_eval"
    parts = [f"python -m {module}"] + ([f"--task {dataset.task_type}"] if dataset.text_task else [])
    parts += [f"--mode {predictor}", f"--eval-set {dataset.frozen_eval_set.path}",
              f"--out results/run{evaluation.pk}-{predictor}.jsonl"]
    if predictor != "rule_baseline":
        parts.append(f"--model-name {provenance.get('model_id') or params.get('model_name')}")
    if provenance.get("adapter"):
        parts.append(f"--adapter {provenance['adapter']}")
    train_split = dataset.directory / "train.jsonl"
    trained = StageRun.objects.filter(pk=params.get("train_run_id")).first()
    if dataset.text_task:
        if trained and trained.params.get("preset"):
            parts.append(f"--preset {trained.params['preset']}")
        if trained and predictor == "fine_tuned" and trained.params.get("backend") == "cls_head":
            parts.append("--trainer cls_head")
        elif predictor != "rule_baseline":
            parts.append(f"--train-file {train_split}")
        return " ".join(parts)
    if params.get("decode"):
        parts.append(f"--decode {params['decode']}")
    if predictor == "prompt_baseline":
        parts.append(f"--few-shot {train_split} --few-shot-k {params.get('few_shot_k', 4)}")
    return " ".join(parts)


def error_pairs(run: StageRun) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(target, predicted) per example of an eval run, invalid answers as the neutral vector."""
    return [
        (tuple(ex.target[a] for a in AXES), tuple(ex.parsed[a] for a in AXES) if ex.parsed else NEUTRAL)
        for ex in run.eval_examples.all()
    ]
