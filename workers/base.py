"""The base class of every stage task: the one place a task's run row changes status.

A task is called with a StageRun id only. This class loads the row, marks it
STARTED (or drops the message if the run was cancelled or already handled),
runs the body with a RunReporter, and records SUCCESS / FAILURE / REVOKED.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback

from celery import Task
from celery.exceptions import Ignore
from celery.signals import worker_shutting_down
from django.db import transaction

from webapp.runs import lifecycle
from webapp.runs.models import StageRun
from webapp.runs.reporting import WORKER_SHUTTING_DOWN, Cancelled, RunReporter
from webapp.serving import registry

logger = logging.getLogger(__name__)


@worker_shutting_down.connect
def _stop_long_stages(**_) -> None:
    """A warm shutdown (SIGTERM) asks a running training to checkpoint and stop."""
    WORKER_SHUTTING_DOWN.set()


class StageTask(Task):
    typing = False  # the body receives (run, reporter), the message carries run_id

    def __call__(self, run_id: int):
        run = StageRun.objects.get(pk=run_id)
        if not lifecycle.mark_started(run, self.request.id or "", socket.gethostname(), os.getpid()):
            logger.info("run %s is %s, not pending: message dropped", run_id, run.status)
            raise Ignore()
        run.refresh_from_db()
        reporter = RunReporter(run)
        reporter.start_heartbeat()
        try:
            result = self.run(run, reporter)
        except Cancelled as exc:
            lifecycle.mark_revoked(run, str(exc))
            raise Ignore() from None
        except Exception as exc:
            reporter.on_log("".join(traceback.format_exception_only(exc)).strip())
            lifecycle.mark_failed(run, f"{type(exc).__name__}: {exc}")
            raise
        finally:
            reporter.stop_heartbeat()
        with transaction.atomic():  # a finished training run and its model appear together (DESIGN §3b)
            if lifecycle.mark_succeeded(run, result) and run.kind == StageRun.Kind.TRAIN:
                run.refresh_from_db()
                registry.register_run(run)
        return None
