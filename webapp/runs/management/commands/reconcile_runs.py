"""`manage.py reconcile_runs [--every S]`: webapp.runs.reconcile once, or every S seconds until stopped."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections
from django.utils import timezone

from webapp.runs.reconcile import reconcile_runs


class Command(BaseCommand):
    help = ("Resume or fail runs whose worker died, and send again PENDING runs whose message was lost; "
            "with --every, repeat until stopped (the launcher's and docker-compose's reconciler).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--every", type=float, default=None, metavar="S", help="repeat every S seconds")

    def handle(self, *args, every: float | None, **options) -> None:
        while True:
            try:
                for line in reconcile_runs().lines():
                    self.stdout.write(f"{timezone.now():%Y-%m-%d %H:%M:%S} {line}")
                self.stdout.flush()
            except DatabaseError as exc:  # the database is down or locked: try again next round
                self.stderr.write(f"reconcile skipped: {exc}")
            if every is None:
                return
            close_old_connections()
            time.sleep(every)
