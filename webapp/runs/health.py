"""Is the stack able to run work? The database, the broker, and a live worker on each queue (DESIGN §9).

/healthz answers it for machines (503 when anything is down) and the dashboard's banner for people.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis
from django.db import DatabaseError, connection
from django.utils.translation import gettext as _

from workers import broker


@dataclass(frozen=True)
class Health:
    database: bool
    broker: bool
    workers: dict[str, int]  # queue -> live workers; empty when the broker is down (nobody can tell)

    @property
    def ok(self) -> bool:
        return self.database and self.broker and all(self.workers.get(queue) for queue in broker.QUEUES)

    def as_json(self) -> dict:
        return {
            "status": "ok" if self.ok else "unavailable",
            "database": "ok" if self.database else "unreachable",
            "broker": "ok" if self.broker else "unreachable",
            "queues": {queue: {"workers": self.workers[queue]} for queue in broker.QUEUES} if self.broker else {},
        }

    def problems(self) -> list[str]:
        """What a user should know, in their language: nothing when all is well."""
        if not self.database:
            return [_("The database is unreachable.")]
        if not self.broker:
            return [_("The task queue (Redis) is unreachable: nothing new can be queued, and running stages "
                      "cannot hand over to the next one until it is back.")]
        return [_("No worker is serving the %(queue)s queue: its stages wait until one starts.") % {"queue": queue}
                for queue in broker.QUEUES if not self.workers.get(queue)]


def check() -> Health:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        database = True
    except DatabaseError:
        database = False
    try:
        workers = {queue: len(hosts) for queue, hosts in broker.live_workers().items()}
    except redis.RedisError:
        return Health(database, False, {})
    return Health(database, True, workers)
