"""How a running stage reports progress, logs and liveness into its StageRun row.

The pipeline knows nothing of Django: it receives `on_progress`, `on_log` and
`should_stop` callbacks, and this class implements them against the row.
"""

from __future__ import annotations

import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from webapp.runs.models import Metric, StageRun
from webapp.secrets import redact


class Cancelled(Exception):
    """Raised inside a stage when its run was cancelled; the base task marks it REVOKED."""


# Set when this worker process is asked to shut down (workers/base.py connects Celery's
# worker_shutting_down signal): long stages stop at their next step and save a checkpoint.
WORKER_SHUTTING_DOWN = threading.Event()


class RunReporter:
    PROGRESS_EVERY_S = 0.5
    HEARTBEAT_EVERY_S = 5.0

    def __init__(self, run: StageRun) -> None:
        self.run_id = run.pk
        self._lines: list[str] = run.log_tail.splitlines()
        self._last_progress = 0.0
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, name=f"heartbeat-{run.pk}", daemon=True)

    # -- callbacks handed to pipeline/ ---------------------------------------
    def on_progress(self, done: int, total: int) -> None:
        """For stages without their own stop logic: a cancel raises here, mid-loop."""
        if self.update_progress(done, total):
            self.check_cancel()

    def update_progress(self, done: int, total: int, force: bool = False) -> bool:
        """Write progress (throttled unless forced); True when it was written. Never raises a cancel."""
        now = time.monotonic()
        if not force and done < total and now - self._last_progress < self.PROGRESS_EVERY_S:
            return False
        self._last_progress = now
        StageRun.objects.filter(pk=self.run_id).update(
            progress_done=done, progress_total=total, heartbeat_at=timezone.now()
        )
        return True

    def on_log(self, line: str) -> None:
        stamped = f"{timezone.now():%H:%M:%S} {redact(line)}"
        self._lines = (self._lines + stamped.splitlines())[-settings.FTLOOP_LOG_TAIL_LINES :]
        StageRun.objects.filter(pk=self.run_id).update(log_tail="\n".join(self._lines))

    def on_metric(self, key: str, step: int, value: float) -> None:
        Metric.objects.create(run_id=self.run_id, key=key, step=step, value=value)

    def cancel_requested(self) -> bool:
        return StageRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()

    def should_stop(self) -> bool:
        return WORKER_SHUTTING_DOWN.is_set() or self.cancel_requested()

    def check_cancel(self) -> None:
        if self.cancel_requested():
            raise Cancelled("cancelled by a user")

    # -- liveness -------------------------------------------------------------
    def start_heartbeat(self) -> None:
        self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        self._stop.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join(timeout=self.HEARTBEAT_EVERY_S * 2)

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.HEARTBEAT_EVERY_S):
                StageRun.objects.filter(pk=self.run_id, status=StageRun.Status.STARTED).update(
                    heartbeat_at=timezone.now()
                )
        finally:
            connection.close()
            close_old_connections()
