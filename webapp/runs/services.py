"""Enqueue, cancel and re-queue: what views and the launcher call.

A message is sent only once the rows' transaction commits (STYLE §16). A send the broker refuses never
leaves a row PENDING with nothing in flight: enqueued rows are failed with the reason, a re-queue is undone,
and the caller gets QueueUnreachable to tell the user.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import partial

from celery import chain
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from kombu.exceptions import OperationalError

from webapp.runs import lifecycle
from webapp.runs.models import StageRun
from workers.celery import app

# What a view tells the user when enqueue raised QueueUnreachable.
NOT_QUEUED = _("Saved, but not queued: the task queue (Redis) is unreachable. The stages are marked failed with "
               "that reason; re-queue them once the queue is back.")


class QueueUnreachable(Exception):
    """The broker refused the message for `runs` (down or unreachable): nothing was sent."""

    def __init__(self, runs: Sequence[StageRun], cause: Exception) -> None:
        super().__init__(f"Not queued: the task queue was unreachable ({cause}). Re-queue the run once it is back.")
        self.runs = list(runs)


# The task that runs each kind of stage (CELERY_TASK_ROUTES picks the queue)...
TASK_NAMES = {
    StageRun.Kind.GENERATE: "workers.tasks.generate",
    StageRun.Kind.FILTER: "workers.tasks.filter",
    StageRun.Kind.SPLIT: "workers.tasks.split",
    StageRun.Kind.FREEZE: "workers.tasks.freeze",
    StageRun.Kind.EVALUATE: "workers.tasks.evaluate",
    StageRun.Kind.VERDICT: "workers.tasks.verdict",
    StageRun.Kind.EXPORT: "workers.tasks.export",
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


def resumable(run: StageRun) -> bool:
    """Local trainers save checkpoints and resume from the last one; a new message for the run continues it."""
    return task_name(run) == TRAIN_TASKS["local"]


def enqueue(runs: Sequence[StageRun]) -> None:
    """Send the runs once the current transaction commits (at once outside one).

    Raises QueueUnreachable, after failing the runs with the reason, when the broker refuses the message.
    """
    transaction.on_commit(partial(_send_or_fail, list(runs)))


def send(runs: Sequence[StageRun]) -> None:
    """Send the runs, in order, as one Celery chain carrying only row ids. Call it after the rows are committed.

    Each row first records the task id and time of this send (so reconcile, looking for its message in the
    queues, never mistakes one on its way for a lost one). Raises QueueUnreachable when the broker refuses it.
    """
    task_ids = [str(uuid.uuid4()) for _ in runs]
    now = timezone.now()
    for run, task_id in zip(runs, task_ids):
        StageRun.objects.filter(pk=run.pk, status=StageRun.Status.PENDING).update(sent_at=now, celery_task_id=task_id)
    signatures = [
        app.signature(task_name(run), args=(run.pk,), immutable=True, task_id=task_id, ignore_result=True)
        for run, task_id in zip(runs, task_ids)
    ]
    try:
        chain(*signatures).apply_async()
    except OperationalError as exc:
        raise QueueUnreachable(runs, exc) from exc


def _send_or_fail(runs: list[StageRun]) -> None:
    try:
        send(runs)
    except QueueUnreachable as exc:
        lifecycle.mark_unsent(runs[0], str(exc))
        raise


def cancel(run: StageRun) -> None:
    """A pending run is revoked at once; a running one is asked to stop at its next progress report."""
    StageRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    if run.status == StageRun.Status.PENDING:
        lifecycle.mark_revoked(run, "cancelled by a user before it started")


def requeue(run: StageRun) -> list[StageRun]:
    """The run and the rest of its chain, sent again; when the broker refuses, QueueUnreachable and the rows
    are put back as they were (status, failure reason), so the run can be re-queued later."""
    rows = lifecycle.reset_for_requeue(run)
    transaction.on_commit(partial(_send_or_undo, rows))
    return rows


def _send_or_undo(rows: list[StageRun]) -> None:
    try:
        send(rows)
    except QueueUnreachable:
        lifecycle.undo_requeue(rows)
        raise
