"""Evaluation and verdict stages as the workers run them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl, write_json
from pipeline.eval.error_bands import worst_bands
from pipeline.eval.acceptance import LoopStatus, evaluate_criteria, overall
from pipeline.eval.run_eval import cost_model, predictor_factory
from pipeline.eval.runner import EvalStopped, run_eval
from pipeline.tasks.hidden_params import AXES, NEUTRAL
from pipeline.tracking import trace_predictions
from webapp.evals.models import AcceptanceCriterion, EvalExample
from webapp.runs import tracking
from webapp.runs.models import Cycle, Metric, StageRun
from webapp.runs.training import run_dir
from webapp.runs.reporting import Cancelled, RunReporter

PREDICTORS = ("rule_baseline", "prompt_baseline", "fine_tuned")


def evaluate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """One predictor on the dataset's frozen eval set; per-example rows and long-format metrics."""
    params, dataset = run.params, run.dataset
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
    with transaction.atomic():
        EvalExample.objects.filter(run=run).delete()
        EvalExample.objects.bulk_create(
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
        )
        Metric.objects.filter(run=run).delete()
        Metric.objects.bulk_create(
            Metric(run=run, key=key, step=0, value=value) for key, value in result.metrics.items() if value is not None
        )
    return {"metrics": result.metrics, "provenance": result.provenance} | tracking.result_fields(run, tracker)


def tracking_links(cycle: Cycle) -> dict[str, str]:
    """What §7.4 asks every run to link; absent keys make the criterion fail with their names."""
    links: dict[str, str] = {}
    if cycle.dataset_id:
        links["dataset_artifact"] = reverse("dataset_download", args=[cycle.dataset_id, "chat_train.jsonl"])
    train = cycle.runs.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS).first()
    if train and train.result.get("adapter_dir"):
        links["adapter_artifact"] = reverse("run_artifact", args=[train.pk, "adapter.zip"])
    if train and train.result.get("tracker_url"):
        links["tracker_run"] = train.result["tracker_url"]
    if cycle.runs.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS).exists():
        links["eval_summary"] = reverse("compare") + "?cycle=" + str(cycle.pk)
    return links


def verdict(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Judge the cycle against the acceptance criteria; start the next cycle of the loop."""
    from webapp.runs import loops

    cycle = run.cycle
    evals = cycle.runs.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
    metrics = {e.params["predictor"]: e.result["metrics"] for e in evals}
    hashes = {e.params["predictor"]: e.result["provenance"]["eval_set_hash"] for e in evals}
    Cycle.objects.filter(pk=cycle.pk).update(completed=True)
    loop = cycle.loop
    last = cycle.index + 1 >= loop.cycles
    verdicts = evaluate_criteria(
        [row.to_criterion() for row in AcceptanceCriterion.objects.filter(enabled=True)],
        metrics,
        eval_set_hashes=hashes,
        loop=LoopStatus(loop.started_cycles, loop.completed_cycles) if last else None,
        tracking=tracking_links(cycle),
    )
    stored = [v.to_dict() for v in verdicts]
    Cycle.objects.filter(pk=cycle.pk).update(verdicts=stored)
    for v in verdicts:
        reporter.on_log(f"{'PASS' if v.passed else 'n/a ' if v.passed is None else 'FAIL'} {v.criterion.key}: {v.reason}")
    if not last:
        fine_tuned = evals.filter(params__predictor="fine_tuned").first()
        bands = worst_bands(error_pairs(fine_tuned)) if fine_tuned else []
        next_cycle = loops.start_cycle(loop, cycle.index + 1, bands)
        reporter.on_log(f"started cycle {next_cycle.index + 1} oversampling {next_cycle.oversample}")
    return {"verdicts": stored, "passed": overall(verdicts)}


def error_pairs(run: StageRun) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """(target, predicted) per example of an eval run, invalid answers as the neutral vector."""
    return [
        (tuple(ex.target[a] for a in AXES), tuple(ex.parsed[a] for a in AXES) if ex.parsed else NEUTRAL)
        for ex in run.eval_examples.all()
    ]
