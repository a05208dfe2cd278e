"""Enqueue, cancel and re-queue: what views and the launcher call."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from celery import chain

from webapp.runs import lifecycle
from webapp.runs.models import StageRun
from workers.celery import app

# The task that runs each kind of stage (CELERY_TASK_ROUTES picks the queue)...
TASK_NAMES = {
    StageRun.Kind.GENERATE: "workers.tasks.generate",
    StageRun.Kind.FILTER: "workers.tasks.filter",
    StageRun.Kind.SPLIT: "workers.tasks.split",
    StageRun.Kind.FREEZE: "workers.tasks.freeze",
    StageRun.Kind.EVALUATE: "workers.tasks.evaluate",
    StageRun.Kind.VERDICT: "workers.tasks.verdict",
}
# ...and, for training, each backend (params["backend"], "local" when absent; the trainer is the stage's business).
TRAIN_TASKS = {
    "local": "workers.tasks.train_local",
    "hf_jobs": "workers.tasks.train_hf_job",
    "mistral": "workers.tasks.train_mistral",
}


def task_name(run: StageRun) -> str:
    if run.kind == StageRun.Kind.TRAIN:
        return TRAIN_TASKS[run.params.get("backend", "local")]
    return TASK_NAMES[run.kind]


def create_chain(steps: Sequence[tuple[str, dict]], **fields) -> list[StageRun]:
    """One StageRun per (kind, params) step, sharing a chain id, in order; `fields` go on every row."""
    chain_id = uuid.uuid4()
    return [
        StageRun.objects.create(kind=kind, params=params, sequence=index, chain_id=chain_id, **fields)
        for index, (kind, params) in enumerate(steps)
    ]


def enqueue(runs: Sequence[StageRun]) -> None:
    """Send the runs, in order, as one Celery chain carrying only row ids."""
    signatures = [app.signature(task_name(run), args=(run.pk,), immutable=True) for run in runs]
    chain(*signatures).apply_async()


def cancel(run: StageRun) -> None:
    """A pending run is revoked at once; a running one is asked to stop at its next progress report."""
    StageRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    if run.status == StageRun.Status.PENDING:
        lifecycle.mark_revoked(run, "cancelled by a user before it started")


def requeue(run: StageRun) -> list[StageRun]:
    rows = lifecycle.reset_for_requeue(run)
    enqueue(rows)
    return rows
