"""What the broker holds: the task ids waiting in our queues, and which workers are alive on each queue.

Both read the Redis broker directly (the embedded stack's and docker-compose's), with short timeouts, so a
caller learns within seconds that it is down (a redis.RedisError). Worker liveness is not asked of the workers
(a solo-pool worker busy training cannot answer a broadcast): each worker process announces itself from a
thread, a key per queue that expires unless renewed (workers/celery.py starts it when the worker is ready).
"""

from __future__ import annotations

import json
import os
import threading

import redis
from celery import current_app

QUEUES = ("cpu", "gpu", "inference")
ANNOUNCE_EVERY_S = 5
ANNOUNCE_TTL_S = 15  # a worker silent for this long (killed, stopped, machine gone) no longer counts
_PRESENCE = "ftloop:worker:{queue}:{hostname}"
# kombu's Redis transport: each queue is a list, with one more list per message priority step, and a
# message a worker has taken but not yet acknowledged waits in the "unacked" hash.
_PRIORITY_SEPARATOR, _PRIORITY_STEPS, _UNACKED = "\x06\x16", (3, 6, 9), "unacked"


def client() -> redis.Redis:
    """A client of the Celery app's broker that gives up within seconds when it is down.

    The app is Celery's current one (workers.celery's, which imports this module for its workers' presence).
    """
    return redis.Redis.from_url(current_app.conf.broker_url, socket_connect_timeout=2, socket_timeout=5)


def waiting_task_ids() -> set[str]:
    """Ids of the task messages in the cpu, gpu and inference queues or held, unacknowledged, by a worker."""
    connection = client()
    suffixes = ("", *(f"{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS))
    keys = [queue + suffix for queue in QUEUES for suffix in suffixes]
    queued = [json.loads(raw) for key in keys for raw in connection.lrange(key, 0, -1)]
    held = [json.loads(raw)[0] for raw in connection.hvals(_UNACKED)]
    return {message["headers"]["id"] for message in queued + held}


def live_workers() -> dict[str, dict[str, int]]:
    """queue -> {worker hostname: pid} of every worker that announced itself lately, for each of QUEUES."""
    connection = client()
    workers: dict[str, dict[str, int]] = {queue: {} for queue in QUEUES}
    for key in connection.scan_iter(_PRESENCE.format(queue="*", hostname="*"), count=500):
        _, _, queue, hostname = key.decode().split(":", 3)
        pid = connection.get(key)
        if queue in workers and pid is not None:
            workers[queue][hostname] = int(pid)
    return workers


class Presence:
    """A daemon thread saying, every ANNOUNCE_EVERY_S, that this process (its pid is the value) serves its
    queues, until stop(); a broker outage only skips a beat."""

    def __init__(self, hostname: str, queues: list[str]) -> None:
        self.keys = [_PRESENCE.format(queue=queue, hostname=hostname) for queue in queues]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ftloop-presence", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            client().delete(*self.keys)
        except redis.RedisError:
            pass  # the keys expire on their own

    def _run(self) -> None:
        connection = client()
        while not self._stop.is_set():
            try:
                for key in self.keys:
                    connection.set(key, os.getpid(), ex=ANNOUNCE_TTL_S)
            except redis.RedisError:
                pass
            self._stop.wait(ANNOUNCE_EVERY_S)
