"""Enqueue, cancel and re-queue: what views and the launcher call."""

from __future__ import annotations

from collections.abc import Sequence

from celery import chain

from webapp.runs import lifecycle
from webapp.runs.models import StageRun
from workers.celery import app


def task_name(kind: str) -> str:
    return f"workers.tasks.{kind}"


def enqueue(runs: Sequence[StageRun]) -> None:
    """Send the runs, in order, as one Celery chain carrying only row ids."""
    signatures = [app.signature(task_name(run.kind), args=(run.pk,), immutable=True) for run in runs]
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
