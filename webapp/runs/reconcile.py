"""Detect dead work (STYLE §10): a STARTED run whose worker is gone is marked failed.

Two signals, checked in order: the worker process recorded on the row no longer
exists on this host (immediate), or its heartbeat is older than
FTLOOP_HEARTBEAT_TIMEOUT_S (any host). Called from the dashboard's poll, from the
run page, and by `manage.py reconcile_runs`.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from webapp.runs import lifecycle
from webapp.runs.models import StageRun


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_reason(run: StageRun, hostname: str, now) -> str | None:
    if run.worker_hostname == hostname and run.worker_pid and not _process_alive(run.worker_pid):
        return (
            f"The worker process (pid {run.worker_pid} on {run.worker_hostname}) exited while running this stage: "
            "it was killed or crashed. Re-queue the run to try again."
        )
    timeout = timedelta(seconds=settings.FTLOOP_HEARTBEAT_TIMEOUT_S)
    if run.heartbeat_at and now - run.heartbeat_at > timeout:
        return (
            f"No heartbeat from worker {run.worker_hostname or '?'} since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC "
            f"(more than {settings.FTLOOP_HEARTBEAT_TIMEOUT_S} s): the worker is presumed dead. Re-queue the run to try again."
        )
    return None


def reconcile_runs() -> list[StageRun]:
    """Fail every STARTED run whose worker is gone; returns the runs it failed."""
    hostname, now = socket.gethostname(), timezone.now()
    failed = []
    for run in StageRun.objects.filter(status=StageRun.Status.STARTED):
        reason = dead_reason(run, hostname, now)
        if reason and lifecycle.mark_failed(run, reason):
            failed.append(run)
    return failed
