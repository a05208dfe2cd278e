"""Evaluation and verdict stages as the workers run them, for every task type.

An evaluation runs one predictor (pipeline.eval.predictors) of the dataset's
task on its frozen set through the one runner (pipeline.eval.runner.evaluate);
the verdict judges the evaluations of its own chain (one cycle of a loop, or a
training form's train -> evaluate -> verdict chain) against the task's criteria.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl, write_json, write_jsonl
from pipeline.eval.acceptance import (
    LOOP_METRIC,
    TRACKING_METRIC,
    Criterion,
    LoopStatus,
    Verdict,
    check_no_regression,
    evaluate_criteria,
    overall,
)
from pipeline.eval.predictors import build_predictor
from pipeline.eval.run_eval import cost_model
from pipeline.eval.runner import EvalStopped
from pipeline.eval.runner import evaluate as run_evaluation
from pipeline.tasks.registry import Task
from pipeline.tracking import trace_predictions
from webapp.datasets.models import Dataset, FrozenEvalSet
from webapp.evals.models import AcceptanceCriterion, EvalExample, seed_criteria
from webapp.runs import loops, tracking
from webapp.runs.models import Cycle, Metric, StageRun
from webapp.runs.reporting import Cancelled, RunReporter
from webapp.runs.training import DATA_OPTIONS, write_experiment_record

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
    # A loop shows its prompt baseline the first cycle's examples, so the baseline stays one predictor across cycles.
    few_shot_dataset = Dataset.objects.filter(pk=params.get("few_shot_dataset_id")).first() or dataset
    train_rows = task.prepare_rows(read_jsonl(few_shot_dataset.directory / "train.jsonl"), training)
    options: dict[str, Any] = {
        "model_name": params.get("model_name") or training.get("model_name"), "decode": params.get("decode"),
        "few_shot_rows": train_rows, "few_shot_k": params.get("few_shot_k"), "train_mode": training.get("train_mode"),
        "train_rows": train_rows, "seed": few_shot_dataset.params.get("seed") or 0,
    }
    if mode == "fine_tuned":
        if not trained or not (trained.result.get("adapter_dir") or trained.result.get("fine_tuned_model")):
            raise ValueError(f"training run #{params.get('train_run_id')} has no model")
        if trained.result.get("fine_tuned_model"):
            return options | {"mode": "remote", "model_name": trained.result["fine_tuned_model"], "decode": None}
        options["adapter"] = trained.result["adapter_dir"]
    return options


def eval_set_of(run: StageRun) -> FrozenEvalSet:
    """The frozen set an evaluation row names (a loop's yardstick), else its dataset's own."""
    if run.params.get("eval_set_id"):
        return FrozenEvalSet.objects.get(pk=run.params["eval_set_id"])
    if not run.dataset.frozen_eval_set:
        raise ValueError(f"dataset #{run.dataset.pk} has no frozen eval set yet")
    return run.dataset.frozen_eval_set


def reuse_key(run: StageRun, eval_set: FrozenEvalSet, options: Mapping[str, Any]) -> str | None:
    """What makes a baseline's evaluation the same one again: predictor, model, decoding, prompt inputs and the
    set, by hash. None for a fine-tuned model (each training run is a new model)."""
    if run.params["predictor"] == "fine_tuned":
        return None
    trained = StageRun.objects.filter(pk=run.params.get("train_run_id")).first()
    key = {"task": run.dataset.task_type, "predictor": run.params["predictor"], "set": eval_set.content_hash,
           **{name: options.get(name) for name in ("model_name", "decode", "few_shot_k", "train_mode", "seed")},
           "few_shot": run.params.get("few_shot_dataset_id") or run.dataset_id,
           "prepare": {name: (trained.params if trained else {}).get(name) for name in DATA_OPTIONS}}
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def reuse_earlier(run: StageRun, key: str, reporter: RunReporter) -> dict[str, Any] | None:
    """An earlier successful evaluation with the same key, copied onto this row (rows, metrics, files); None when
    there is none. DESIGN §2: a baseline is not recomputed while its model, set and decoding are unchanged."""
    earlier = (StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS,
                                       result__reuse_key=key).exclude(pk=run.pk).order_by("pk").first())
    if earlier is None or not (earlier.directory / EVAL_ROWS).is_file():
        return None
    reporter.on_log(f"same predictor, set and decoding as evaluation #{earlier.pk}: its results are reused")
    run.directory.mkdir(parents=True, exist_ok=True)
    for name in (EVAL_ROWS, "eval_summary.json"):
        if (earlier.directory / name).is_file():
            shutil.copyfile(earlier.directory / name, run.directory / name)
    examples = [EvalExample(**{field: value for field, value in example.items() if field not in ("id", "run_id")},
                            run=run) for example in earlier.eval_examples.values()]
    replace_results(run, examples, earlier.result["metrics"])
    reporter.on_progress(1, 1)
    return {**earlier.result, "reused_from": earlier.pk}


def evaluate(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """One predictor on a frozen eval set (the row's yardstick or the dataset's own); per-example rows and
    long-format metrics. A baseline already evaluated the same way on the same set is reused, not recomputed."""
    params, dataset = run.params, run.dataset
    task = dataset.task
    eval_set = eval_set_of(run)
    mode = params["predictor"]
    options = predictor_options(run)
    key = reuse_key(run, eval_set, options)
    reused = reuse_earlier(run, key, reporter) if key else None
    if reused:
        return reused
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
                task, traced, read_jsonl(eval_set.path), params=trained.params if trained else {},
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
    replace_results(run, eval_examples(run, task, result.rows), result.metrics)
    return ({"task": task.name, "metrics": result.metrics, "charts": result.charts, "provenance": result.provenance,
             "eval_set_id": eval_set.pk, **({"reuse_key": key} if key else {})} | tracking.result_fields(run, tracker))


def eval_examples(run: StageRun, task: Task, rows: Iterable[Mapping[str, Any]]) -> list[EvalExample]:
    """The EvalExample rows of an evaluation's per-example rows (the eval runner's)."""
    return [EvalExample(run=run, index=row["index"], request_text=task.text(row), language=row.get("language") or "",
                        target=task.answer(row), raw_output=row["raw"], parsed=row["parsed"], valid=row["valid"],
                        latency_ms=row["latency_ms"], abs_error=row["error"])
            for row in rows]


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


def yardstick_label(content_hash: str) -> dict[str, Any]:
    """How a verdict names the set it was judged on: {"hash", "kind", "version", "name"}."""
    frozen = FrozenEvalSet.objects.filter(content_hash=content_hash).first()
    kind = frozen.kind if frozen else FrozenEvalSet.Kind.SYNTHETIC
    name = f"field set v{frozen.version}" if frozen and kind == FrozenEvalSet.Kind.FIELD else \
        f"synthetic set {content_hash[:12]}"
    return {"hash": content_hash, "kind": kind, "version": frozen.version if frozen else None, "name": name}


def previous_evaluation(cycle: Cycle | None, predictor: str, content_hash: str) -> StageRun | None:
    """The previous cycle's evaluation of `predictor` on the same set (by hash), for the no-regression gate."""
    if cycle is None or cycle.index == 0:
        return None
    return (StageRun.objects.filter(cycle__loop=cycle.loop, cycle__index=cycle.index - 1, kind=StageRun.Kind.EVALUATE,
                                    status=StageRun.Status.SUCCESS, params__predictor=predictor,
                                    result__provenance__eval_set_hash=content_hash).order_by("-pk").first())


def judge_yardstick(criteria: Sequence[Criterion], group: Sequence[StageRun], cycle: Cycle | None,
                    answer_key: str) -> list[Verdict]:
    """The chain's evaluations on one set against the per-set criteria: those whose metric the set measures, and
    no regression against the previous cycle's evaluation on the same set."""
    metrics = {run.params["predictor"]: run.result["metrics"] for run in group}
    hashes = {run.params["predictor"]: run.result["provenance"]["eval_set_hash"] for run in group}
    measured = [criterion for criterion in criteria if criterion.comparator != "no_regression"
                and any(values.get(criterion.metric) is not None for values in metrics.values())]
    verdicts = evaluate_criteria(measured, metrics, eval_set_hashes=hashes)
    for criterion in (criterion for criterion in criteria if criterion.comparator == "no_regression"):
        current = next((run for run in group if run.params["predictor"] == criterion.applies_to), None)
        earlier = previous_evaluation(cycle, criterion.applies_to, group[0].result["provenance"]["eval_set_hash"])
        verdicts.append(check_no_regression(criterion, eval_rows(earlier) if earlier else None,
                                            eval_rows(current) if current else None, answer_key))
    return verdicts


def verdict(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Judge the chain's evaluations against the acceptance criteria on each set they ran on (DESIGN §7: a loop's
    synthetic set and its field set), and the loop and tracking criteria once; in a loop, hand the outcome to the
    loop (webapp.runs.loops.finish_cycle), which records it and starts the next cycle.

    The chain's training run gets its experiment record again, now with the evaluations.
    """
    cycle, dataset = run.cycle, run.dataset
    task = dataset.task
    chain = StageRun.objects.filter(chain_id=run.chain_id)
    evals = list(chain.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS).order_by("sequence"))
    groups: dict[str, list[StageRun]] = {}
    for evaluation in evals:
        groups.setdefault(evaluation.result["provenance"]["eval_set_hash"], []).append(evaluation)
    criteria = criteria_for(dataset)
    once = [criterion for criterion in criteria if criterion.metric in (LOOP_METRIC, TRACKING_METRIC)]
    per_set = [criterion for criterion in criteria if criterion not in once]
    loop_status = None
    if cycle and cycle.index + 1 >= cycle.loop.cycles:  # the loop criterion judges the last cycle, this one done
        loop = cycle.loop
        loop_status = LoopStatus(loop.started_cycles, loop.completed_cycles + (0 if cycle.completed else 1))
    judged: list[tuple[Verdict, dict[str, Any] | None]] = []
    for content_hash, group in groups.items():
        label = yardstick_label(content_hash)
        judged += [(verdict, label) for verdict in judge_yardstick(per_set, group, cycle, task.answer_key)]
    judged += [(verdict, None) for verdict in evaluate_criteria(
        once, {}, eval_set_hashes={}, loop=loop_status,
        tracking=tracking_links(cycle) if cycle else chain_links(chain, dataset, "ids=" + ",".join(
            str(e.pk) for e in evals)))]
    stored = [verdict.to_dict() | {"yardstick": label} for verdict, label in judged]
    for verdict_, label in judged:
        where = f" [{label['name']}]" if label else ""
        reporter.on_log(f"{'PASS' if verdict_.passed else 'n/a ' if verdict_.passed is None else 'FAIL'} "
                        f"{verdict_.criterion.key}{where}: {verdict_.reason}")
    train = chain.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS).first()
    if train:
        write_experiment_record(train, train.result, evals, [eval_command(e) for e in evals])
    if cycle:
        fine_tuned = [e for e in evals if e.params["predictor"] == "fine_tuned"]
        synthetic = [e for e in fine_tuned if yardstick_label(e.result["provenance"]["eval_set_hash"])["kind"]
                     == FrozenEvalSet.Kind.SYNTHETIC]
        bands = task.error_bands(eval_rows(synthetic[0])) if synthetic else []
        eval_sets = FrozenEvalSet.objects.filter(content_hash__in=list(groups))
        next_cycle = loops.finish_cycle(cycle, stored, bands, list(eval_sets))
        if next_cycle:
            reporter.on_log(f"started cycle {next_cycle.index + 1} oversampling {next_cycle.oversample}")
    return {"verdicts": stored, "passed": overall([verdict_ for verdict_, _ in judged])}


def eval_command(evaluation: StageRun) -> str:
    """The command line that repeats an evaluation outside the web app (for the experiment record)."""
    dataset, params, result = evaluation.dataset, evaluation.params, evaluation.result
    provenance = result.get("provenance", {})
    predictor = params["predictor"]
    parts = [f"python -m pipeline.eval.run_eval --task {dataset.task_type} --mode {predictor}",
             f"--eval-set {eval_set_of(evaluation).path}", f"--out results/run{evaluation.pk}-{predictor}.jsonl"]
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
