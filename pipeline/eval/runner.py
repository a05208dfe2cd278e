"""Evaluate one predictor of any task on one frozen eval set: per-example rows, metrics, chart data, provenance.

The web app (a Celery task) and the `run_eval` CLI both call `evaluate`; neither
computes a metric itself, so the dashboard and the terminal always agree. The
task scores each row and aggregates (`task.score_row`, `task.metrics`,
`task.charts`); the runner adds what every predictor has: latency and cost.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.data.generate_frozen_eval_set import ALL_FIELDS, Fields, content_hash
from pipeline.eval.metrics import (
    COUNT_KEY,
    CostModel,
    cost_per_100_requests_usd,
    p95_inference_latency_ms,
    truncated_rate,
)
from pipeline.tasks.predictors import Prediction, Predictor
from pipeline.tasks.registry import Task

ProgressCallback = Callable[[int, int], None]
LogCallback = Callable[[str], None]
StopCheck = Callable[[], bool]

REPO_ROOT = Path(__file__).resolve().parents[2]


class EvalStopped(Exception):
    """Raised when `should_stop` asks to stop: a partial eval must not be stored as a result."""

    def __init__(self, done: int, total: int) -> None:
        super().__init__(f"evaluation stopped after {done} of {total} examples")
        self.done = done
        self.total = total


@dataclass(frozen=True)
class EvalResult:
    """What one evaluation produced: one row per example, the metric dict, chart data, and where it came from."""

    rows: list[dict[str, Any]]
    metrics: dict[str, float | None]
    provenance: dict[str, Any]
    charts: dict[str, Any] = field(default_factory=dict)


def code_commit(repo: str | Path = REPO_ROOT) -> str | None:
    """The checked-out commit, so a metric can be traced to the code that made it; None without git."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = completed.stdout.strip()
    return commit if completed.returncode == 0 and commit else None


def build_provenance(
    predictor: Predictor,
    examples: Sequence[Mapping[str, Any]],
    *,
    dataset_version: str | None = None,
    seed: int | None = None,
    commit: str | None = None,
    extra: Mapping[str, Any] | None = None,
    hashed_fields: Fields = ALL_FIELDS,
) -> dict[str, Any]:
    """The fields DESIGN §6 requires on every metric row.

    The eval-set hash is computed from the examples themselves (the same hash
    the freeze stage names the file by, with the same `hashed_fields`), so it
    cannot disagree with the data that was actually scored. `extra` carries run
    details such as the decode mode.
    """
    provenance = {
        "predictor": predictor.name,
        "model_id": predictor.model_id,
        "adapter": predictor.adapter,
        "eval_set_hash": content_hash(examples, hashed_fields),
        "dataset_version": dataset_version,
        "code_commit": commit,
        "seed": seed,
        "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for key, value in (extra or {}).items():
        if key in provenance:
            raise ValueError(f"extra provenance may not override {key!r}")
        provenance[key] = value
    return provenance


def begin_eval(
    predictor: Predictor,
    examples: Sequence[Mapping[str, Any]],
    batch_size: int,
    log: LogCallback,
    *,
    dataset_version: str | None = None,
    seed: int | None = None,
    commit: str | None = None,
    extra: Mapping[str, Any] | None = None,
    hashed_fields: Fields = ALL_FIELDS,
    noun: str = "examples",
) -> dict[str, Any]:
    """Check an eval's arguments, log what it runs and return its provenance (`commit` defaults to the current one).

    `noun` names the examples in the log line (e.g. "four_class examples").
    """
    if not examples:
        raise ValueError("the eval set is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    provenance = build_provenance(
        predictor,
        examples,
        dataset_version=dataset_version,
        seed=seed,
        commit=commit if commit is not None else code_commit(),
        extra=extra,
        hashed_fields=hashed_fields,
    )
    log(f"evaluating {predictor.name} ({predictor.model_id}) on {len(examples)} {noun}, eval set "
        f"{provenance['eval_set_hash'][:12]}")
    return provenance


def predict_in_batches(
    predictor: Predictor,
    items: Sequence[Any],
    batch_size: int,
    *,
    predict: Callable[[Sequence[Any]], list[Prediction]] | None = None,
    on_progress: ProgressCallback | None = None,
    should_stop: StopCheck | None = None,
    warmup: bool = True,
) -> list[Prediction]:
    """One Prediction per item, asked `batch_size` at a time (`predict`, default `predictor.predict`).

    `warmup` sends the first item once, unscored, so that latency measures a warm
    model. `should_stop` is polled before each batch; stopping raises EvalStopped.
    """
    predict = predict or predictor.predict
    if warmup:
        predict(items[:1])
    predictions: list[Prediction] = []
    for start in range(0, len(items), batch_size):
        if should_stop and should_stop():
            raise EvalStopped(len(predictions), len(items))
        batch = items[start : start + batch_size]
        answers = predict(batch)
        if len(answers) != len(batch):
            raise RuntimeError(f"{predictor.name} returned {len(answers)} predictions for {len(batch)} requests")
        predictions.extend(answers)
        if on_progress:
            on_progress(len(predictions), len(items))
    return predictions


def metric_rows(metrics: Mapping[str, float | None], provenance: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Long format (one row per key, MLflow style): {key, value, step: 0, **provenance}.

    Metrics without a value (e.g. cost with no price given, or
    constraint_match_rate on a set without constraints) get no row: an absent
    row reads as "not measured", a stored null would read as a number.
    """
    return [
        {"key": key, "value": float(value), "step": 0, **provenance}
        for key, value in metrics.items()
        if value is not None
    ]


def _predict_rows(predictor: Predictor, task: Task, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
    """Rows to predictors that read whole rows (``predict_rows``: a prompt may need more than the text)."""
    predict_rows = getattr(predictor, "predict_rows", None)
    return predict_rows(rows) if predict_rows else predictor.predict([task.text(row) for row in rows])


def evaluate(
    task: Task,
    predictor: Predictor,
    examples: Sequence[Mapping[str, Any]],
    *,
    params: Mapping[str, Any] | None = None,
    batch_size: int = 8,
    on_progress: ProgressCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    cost: CostModel | None = None,
    warmup: bool = True,
    dataset_version: str | None = None,
    seed: int | None = None,
    commit: str | None = None,
    extra_provenance: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Any task's predictor on a frozen set: predict in batches, score each row with the task, then aggregate.

    `params` are the training params the prompts follow (a preset's train
    mode, retrieved context: ``task.prepare_rows``); the eval-set hash is taken
    before they apply, so two presets evaluated on one frozen set compare.
    `warmup` sends the first request once, unscored, so p95 measures a warm model;
    `should_stop` is polled before each batch (EvalStopped).
    """
    log = on_log or (lambda line: None)
    extra = {"task": task.name, **(extra_provenance or {})}
    provenance = begin_eval(predictor, examples, batch_size, log, dataset_version=dataset_version, seed=seed,
                            commit=commit, extra=extra, hashed_fields=task.hashed_fields, noun=f"{task.name} examples")
    prompts = task.prepare_rows(examples, params or {})
    predictions = predict_in_batches(predictor, prompts, batch_size,
                                     predict=lambda batch: _predict_rows(predictor, task, batch),
                                     on_progress=on_progress, should_stop=should_stop, warmup=warmup)
    rows, metrics = score_predictions(task, examples, predictions, prompts=prompts, cost=cost)
    summary = dict.fromkeys([task.headline_metric, *(criterion.metric for criterion in task.default_criteria())])
    log(f"{predictor.name}: " + ", ".join(f"{key} {_show(metrics.get(key))}" for key in summary)
        + f", p95 {metrics['p95_inference_latency_ms']:.1f} ms")
    return EvalResult(rows=rows, metrics=metrics, provenance=provenance, charts=task.charts(rows))


def score_predictions(
    task: Task,
    examples: Sequence[Mapping[str, Any]],
    predictions: Sequence[Prediction],
    *,
    prompts: Sequence[Mapping[str, Any]] | None = None,
    cost: CostModel | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float | None]]:
    """(eval rows, metrics) of predictions for examples, in order: each row the example as frozen, what the
    model read and wrote, whether the predictor cut the request to fit (``truncated``: True/False, None where
    it does not say) and the task's verdict (`task.score_row`); the metrics the task's (`task.metrics`),
    then p95 latency, cost per 100 requests, the share of requests truncated and the number of examples."""
    if len(examples) != len(predictions):
        raise ValueError(f"{len(examples)} examples but {len(predictions)} predictions")
    prompts = examples if prompts is None else prompts
    rows = [
        {**example, "index": index, "prompt_text": task.text(prompt), "raw": prediction.raw,
         "latency_ms": prediction.latency_ms, "tokens_decoded": prediction.tokens_decoded, "usage": prediction.usage,
         "truncated": prediction.usage.get("truncated") if isinstance(prediction.usage, Mapping) else None,
         **task.score_row(example, prediction.raw)}
        for index, (example, prompt, prediction) in enumerate(zip(examples, prompts, predictions))
    ]
    metrics = {**task.metrics(rows),
               "p95_inference_latency_ms": p95_inference_latency_ms([p.latency_ms for p in predictions]),
               "cost_per_100_requests_usd": cost_per_100_requests_usd(predictions, cost),
               "truncated_rate": truncated_rate(predictions),
               COUNT_KEY: len(rows)}
    return rows, metrics


def _show(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
