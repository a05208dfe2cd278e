"""Detect dead work and lost messages (STYLE §10, DESIGN §9).

A STARTED run whose worker is gone: its process no longer exists on this host
(immediate), or its heartbeat is older than FTLOOP_HEARTBEAT_TIMEOUT_S (any host).
Local training is then resumed from its last checkpoint (FTLOOP_TRAIN_RESUME_ATTEMPTS
times, each logged in the run's log); any other stage is failed with the reason.

A PENDING run free to start (the first of its chain, or the stage before it
succeeded) whose message is in no queue after FTLOOP_PENDING_GRACE_S is sent
again with the rest of its chain: the broker refused a chain's next step, lost
its messages in a restart, or a process died between commit and send.

`manage.py reconcile_runs --every N` runs this without page views (the launcher
supervises one, docker-compose has a service); the dashboard's poll and the run, loop
and dataset pages call it too.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import redis
from django.conf import settings
from django.utils import timezone

from webapp.runs import lifecycle, services
from webapp.runs.models import StageRun
from webapp.runs.reporting import RunReporter
from workers import broker

Status = StageRun.Status


@dataclass
class Reconciled:
    failed: list[StageRun] = field(default_factory=list)
    resumed: list[StageRun] = field(default_factory=list)
    resent: list[StageRun] = field(default_factory=list)

    def lines(self) -> list[str]:
        return ([f"failed {run} (its worker died)" for run in self.failed]
                + [f"resumed {run} from its last checkpoint" for run in self.resumed]
                + [f"sent {run} again (its message was lost)" for run in self.resent])


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def dead_reason(run: StageRun, hostname: str, now: datetime) -> str | None:
    """Why the run's worker is presumed dead, or None while it looks alive."""
    if run.worker_hostname == hostname and run.worker_pid and not _process_alive(run.worker_pid):
        return (f"The worker process (pid {run.worker_pid} on {run.worker_hostname}) exited while running this stage: "
                "it was killed or crashed.")
    timeout = timedelta(seconds=settings.FTLOOP_HEARTBEAT_TIMEOUT_S)
    if run.heartbeat_at and now - run.heartbeat_at > timeout:
        return (f"No heartbeat from worker {run.worker_hostname or '?'} since {run.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC "
                f"(more than {settings.FTLOOP_HEARTBEAT_TIMEOUT_S} s): the worker is presumed dead.")
    return None


def reconcile_runs() -> Reconciled:
    """Resume or fail each STARTED run whose worker is gone; send again each PENDING run whose message was lost."""
    outcome = Reconciled()
    hostname, now = socket.gethostname(), timezone.now()
    for run in StageRun.objects.filter(status=Status.STARTED):
        reason = dead_reason(run, hostname, now)
        if reason:
            _dead_worker(run, reason, outcome)
    _resend_lost(now, outcome)
    return outcome


def _dead_worker(run: StageRun, reason: str, outcome: Reconciled) -> None:
    attempts = settings.FTLOOP_TRAIN_RESUME_ATTEMPTS
    if services.resumable(run) and run.resumes < attempts:
        if lifecycle.mark_for_resume(run):
            RunReporter(run).on_log(f"{reason} Resuming from the last checkpoint: automatic attempt "
                                    f"{run.resumes + 1} of {attempts}.")
            _send_rest_of_chain(run)
            outcome.resumed.append(run)
        return
    if services.resumable(run):
        reason += f" It was resumed automatically {attempts} times already."
    if lifecycle.mark_failed(run, f"{reason} Re-queue the run to try again."):
        outcome.failed.append(run)


def _resend_lost(now: datetime, outcome: Reconciled) -> None:
    grace = timedelta(seconds=settings.FTLOOP_PENDING_GRACE_S)
    overdue = [run for run, previous in _free_to_start() if now - _waiting_since(run, previous) > grace]
    if not overdue:
        return
    try:
        waiting = broker.waiting_task_ids()
    except redis.RedisError:
        return  # nothing can be sent while the broker is down; the next round tries again
    for run in overdue:
        if run.celery_task_id in waiting or not StageRun.objects.filter(pk=run.pk, status=Status.PENDING).exists():
            continue
        # Logged first: once sent, the worker's reporter owns the log.
        RunReporter(run).on_log("Its message was in no queue (lost while the broker was down or restarting): "
                                "sending it again.")
        if not _send_rest_of_chain(run):
            return
        outcome.resent.append(run)


def _free_to_start() -> list[tuple[StageRun, StageRun | None]]:
    """(run, the stage before it) for the first PENDING run of each chain, if that stage succeeded or there is none."""
    first: dict = {}
    for run in StageRun.objects.filter(status=Status.PENDING).order_by("chain_id", "sequence"):
        first.setdefault(run.chain_id, run)
    free = []
    for run in first.values():
        earlier = StageRun.objects.filter(chain_id=run.chain_id, sequence__lt=run.sequence)
        previous = earlier.order_by("-sequence").first()
        if previous is None or previous.status == Status.SUCCESS:
            free.append((run, previous))
    return free


def _waiting_since(run: StageRun, previous: StageRun | None) -> datetime:
    return max(moment for moment in (run.created_at, run.sent_at, previous and previous.finished_at) if moment)


def _send_rest_of_chain(run: StageRun) -> bool:
    """Send the run and its chain's later PENDING stages; False when the broker refused (they stay PENDING, unsent,
    and a later round sends them)."""
    try:
        services.send([run, *run.later_in_chain().filter(status=Status.PENDING).order_by("sequence")])
    except services.QueueUnreachable:
        return False
    return True
