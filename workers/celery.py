"""The one Celery app. Every setting comes from the CELERY_* block of webapp/settings.py."""

import os

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_init, worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("ftloop")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["workers"])


@worker_init.connect
def _limit_torch_threads(**_) -> None:
    """FTLOOP_TORCH_THREADS caps torch's CPU threads in this worker (0: torch's default).

    On a small CPU a single-threaded inference worker answers faster than one
    fighting the training worker for both cores.
    """
    from django.conf import settings

    if settings.FTLOOP_TORCH_THREADS:
        import torch

        torch.set_num_threads(settings.FTLOOP_TORCH_THREADS)


@after_setup_logger.connect
@after_setup_task_logger.connect
def _redact_secrets(logger, **_) -> None:
    """Worker logs (and the stdout Celery redirects into them) never show a secret value."""
    from webapp.secrets import RedactingFilter

    for handler in logger.handlers:
        handler.addFilter(RedactingFilter())


_presence: list = []  # this worker process's announcement (workers.broker.Presence), stopped at shutdown


@worker_ready.connect
def _announce_presence(sender, **_) -> None:
    """Tell /healthz and the dashboard which queues this worker serves (workers/broker.py), until it stops."""
    from workers.broker import Presence

    presence = Presence(sender.hostname, [queue.name for queue in sender.task_consumer.queues])
    presence.start()
    _presence.append(presence)


@worker_shutdown.connect
def _withdraw_presence(**_) -> None:
    while _presence:
        _presence.pop().stop()
