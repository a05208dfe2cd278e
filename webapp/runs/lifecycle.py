"""Every StageRun status change happens here, and only here.

Each transition is a conditional UPDATE (it names the status it leaves), so two
writers racing (a worker finishing while a user cancels, or reconcile failing a
run whose worker died) cannot both win.
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from webapp.runs.models import StageRun
from webapp.secrets import redact

Status = StageRun.Status


def mark_started(run: StageRun, task_id: str, hostname: str, pid: int) -> bool:
    """PENDING -> STARTED; False when the run is no longer pending (cancelled meanwhile)."""
    now = timezone.now()
    return bool(
        StageRun.objects.filter(pk=run.pk, status=Status.PENDING).update(
            status=Status.STARTED,
            celery_task_id=task_id,
            worker_hostname=hostname,
            worker_pid=pid,
            started_at=now,
            heartbeat_at=now,
            finished_at=None,
            attempts=F("attempts") + 1,
        )
    )


def mark_succeeded(run: StageRun, result: dict) -> bool:
    return _finish(run, Status.SUCCESS, result=result or {}, error="")


def mark_failed(run: StageRun, error: str) -> bool:
    failed = _finish(run, Status.FAILURE, error=error)
    if failed:
        skip_rest_of_chain(run, f"skipped: {run.get_kind_display()} #{run.pk} failed")
    return failed


def mark_revoked(run: StageRun, reason: str) -> bool:
    revoked = _finish(run, Status.REVOKED, error=reason, from_statuses=(Status.PENDING, Status.STARTED))
    if revoked:
        skip_rest_of_chain(run, f"skipped: {run.get_kind_display()} #{run.pk} was cancelled")
    return revoked


def mark_unsent(run: StageRun, reason: str) -> bool:
    """PENDING -> FAILURE: the message that would start it was refused (broker down); the rest of its chain is
    skipped."""
    failed = _finish(run, Status.FAILURE, from_statuses=(Status.PENDING,), error=reason)
    if failed:
        skip_rest_of_chain(run, f"skipped: {run.get_kind_display()} #{run.pk} could not be queued")
    return failed


def mark_for_resume(run: StageRun) -> bool:
    """STARTED -> PENDING for another attempt of the same run (its worker died); False when another writer won."""
    return bool(
        StageRun.objects.filter(pk=run.pk, status=Status.STARTED, attempts=run.attempts).update(
            status=Status.PENDING, resumes=F("resumes") + 1
        )
    )


def skip_rest_of_chain(run: StageRun, reason: str) -> int:
    return run.later_in_chain().filter(status=Status.PENDING).update(
        status=Status.REVOKED, error=reason, finished_at=timezone.now()
    )


# What a re-queue writes; undo_requeue writes back the values the rows had.
_REQUEUE_RESETS = {"status": Status.PENDING, "error": "", "result": {}, "progress_done": 0, "progress_total": 0,
                   "cancel_requested": False, "started_at": None, "finished_at": None, "resumes": 0}


def reset_for_requeue(run: StageRun) -> list[StageRun]:
    """A failed or cancelled run and the rest of its chain go back to PENDING.

    Returns the rows to enqueue, in order. Earlier stages' outputs stay as they are.
    """
    if run.status not in (Status.FAILURE, Status.REVOKED):
        raise ValueError(f"only failed or cancelled runs can be re-queued; this one is {run.get_status_display()}")
    rows = [run, *run.later_in_chain().filter(status__in=(Status.FAILURE, Status.REVOKED)).order_by("sequence")]
    StageRun.objects.filter(pk__in=[r.pk for r in rows]).update(**_REQUEUE_RESETS)
    return rows


def undo_requeue(rows: list[StageRun]) -> None:
    """Put rows reset_for_requeue returned back as they were (their message could not be sent)."""
    for row in rows:
        StageRun.objects.filter(pk=row.pk, status=Status.PENDING).update(
            **{field: getattr(row, field) for field in _REQUEUE_RESETS}
        )


def _finish(run: StageRun, status: str, from_statuses: tuple[str, ...] = (Status.STARTED,), **fields) -> bool:
    return bool(
        StageRun.objects.filter(pk=run.pk, status__in=from_statuses).update(
            status=status, finished_at=timezone.now(), **redact(fields)
        )
    )
