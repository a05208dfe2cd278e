"""Chaos tests (issue 13, DESIGN §9): a real Redis stopped and started again, real workers killed with SIGKILL.

Each test prints `measured: <fault>: <what happened>: <seconds>` lines (run with -s to see them).
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.urls import reverse
from django.utils import timezone

from pipeline.data.jsonl import read_jsonl
from pipeline.train.sft import list_checkpoints
from tests.conftest import ROOT, process_env, wait_for
from tests.tiny_model import make_tiny_llama
from webapp.datasets.models import Dataset
from webapp.datasets.services import DATA_STAGES, start_data_cycle
from webapp.runs import services, training
from webapp.runs.models import StageRun
from workers import broker
from workers.embedded_redis import free_port, start_redis

pytestmark = pytest.mark.integration
Status = StageRun.Status


def measured(fault: str, seconds: float) -> None:
    print(f"\nmeasured: {fault}: {seconds:.1f} s", flush=True)


def stages(dataset):
    return list(dataset.runs.order_by("sequence"))


class Outage:
    """Stops the session's Redis and starts it again on the same port (empty: it keeps nothing on disk)."""

    def __init__(self, server, work_dir: Path) -> None:
        self.server, self.work_dir = server, work_dir

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> float:
        """Start Redis again; returns the moment (time.monotonic) it answers."""
        self.server.process = start_redis(self.work_dir, port=self.server.port).process
        return time.monotonic()

    @property
    def down(self) -> bool:
        return self.server.process.poll() is not None


@pytest.fixture
def redis_outage(redis_server, tmp_path):
    outage = Outage(redis_server, tmp_path / "redis")
    yield outage
    if outage.down:
        outage.start()


class ManagedProcess:
    """A subprocess in its own session, its output in a log file; stopped (then killed) at teardown."""

    def __init__(self, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self.process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


@pytest.fixture
def reconciler(redis_url, transactional_db, settings, tmp_path):
    """`manage.py reconcile_runs --every 1`, as the launcher and docker-compose run it: no page view involved."""
    from django.db import connection

    process = ManagedProcess([sys.executable, "manage.py", "reconcile_runs", "--every", "1"],
                             process_env(redis_url, connection.settings_dict["NAME"], settings.DATA_DIR),
                             tmp_path / "reconciler.log")
    yield process
    process.stop()


def test_redis_down_while_a_dataset_is_created_gives_a_message_and_leaves_nothing_pending(
        engineer_client, start_worker, redis_outage):
    start_worker()
    redis_outage.stop()
    began = time.monotonic()
    response = engineer_client.post(reverse("dataset_new"), {"size": 60, "seed": 3, "language": "en",
                                                             "teacher": "template"}, follow=True)
    measured("Redis down at dataset creation: the page with the message", time.monotonic() - began)
    assert time.monotonic() - began < 10
    assert response.status_code == 200
    assert "not queued: the task queue (Redis) is unreachable" in response.content.decode()
    dataset = response.context["dataset"]
    generate, *rest = stages(dataset)
    assert generate.status == Status.FAILURE and generate.error.startswith("Not queued: the task queue was unreachable")
    assert [run.status for run in rest] == [Status.REVOKED] * 3 and "could not be queued" in rest[0].error

    page = engineer_client.post(reverse("run_requeue", args=[generate.pk]), follow=True).content.decode()
    assert "Nothing was queued and nothing changed" in page
    unchanged = StageRun.objects.get(pk=generate.pk)
    assert (unchanged.status, unchanged.error) == (Status.FAILURE, generate.error)
    assert not StageRun.objects.filter(status=Status.PENDING).exists()

    back = redis_outage.start()
    engineer_client.post(reverse("run_requeue", args=[generate.pk]))
    runs = wait_for(lambda: all(run.status == Status.SUCCESS for run in stages(dataset)) and stages(dataset),
                    timeout=120, message="the re-queued chain")
    measured("Redis down at dataset creation: re-queued chain done after Redis returned", time.monotonic() - back)
    assert runs[0].attempts == 1


def test_redis_down_mid_chain_the_chain_continues_once_it_is_back(start_worker, reconciler, redis_outage):
    start_worker()
    dataset = start_data_cycle(size=4000, seed=2, language="en")
    filter_run = stages(dataset)[1]
    wait_for(lambda: StageRun.objects.filter(pk=filter_run.pk, status=Status.STARTED).exists(), timeout=120,
             interval=0.05, message="the filter stage to start")
    redis_outage.stop()
    wait_for(lambda: StageRun.objects.get(pk=filter_run.pk).is_finished, timeout=120, message="the filter stage")
    time.sleep(3)  # the worker's publish of the next step is refused (two quick retries)
    assert [run.status for run in stages(dataset)] == [Status.SUCCESS, Status.SUCCESS, Status.PENDING, Status.PENDING]

    back = redis_outage.start()
    runs = wait_for(lambda: all(run.status == Status.SUCCESS for run in stages(dataset)) and stages(dataset),
                    timeout=120, message="the rest of the chain")
    measured("Redis down mid-chain: chain done after Redis returned", time.monotonic() - back)
    assert "sending it again" in runs[2].log_tail
    dataset.refresh_from_db()
    assert dataset.frozen_eval_set is not None


def healthz_if_ok(client):
    response = client.get(reverse("healthz"))
    return response if response.status_code == 200 else None


def test_healthz_and_the_dashboard_say_when_redis_or_a_queue_is_down(client, engineer_client, start_worker,
                                                                      redis_outage):
    assert client.get(reverse("healthz")).json()["queues"]["gpu"] == {"workers": 0}  # no worker yet
    assert "No worker is serving the gpu queue" in engineer_client.get(reverse("dashboard")).content.decode()
    start_worker()
    healthy = wait_for(lambda: healthz_if_ok(client), timeout=30, message="a healthy stack")
    assert healthy.json() == {"status": "ok", "database": "ok", "broker": "ok",
                              "queues": {queue: {"workers": 1} for queue in broker.QUEUES}}
    assert "messages" not in engineer_client.get(reverse("health_banner")).content.decode()

    redis_outage.stop()
    began = time.monotonic()
    down = client.get(reverse("healthz"))
    measured("Redis down: /healthz answers 503", time.monotonic() - began)
    assert time.monotonic() - began < 5
    assert down.status_code == 503 and down.json()["broker"] == "unreachable"
    assert "The task queue (Redis) is unreachable" in engineer_client.get(reverse("dashboard")).content.decode()

    back = redis_outage.start()
    wait_for(lambda: healthz_if_ok(client), timeout=30, message="/healthz to recover")
    measured("Redis down: /healthz 200 again after Redis returned", time.monotonic() - back)


# -- the launcher's supervisor ------------------------------------------------------------------------------------

class Launcher(ManagedProcess):
    """`python -m webapp.launch --no-job` on this test's database and Redis."""

    def __init__(self, env: dict[str, str], data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.supervisor_log = data_dir / "logs" / "supervisor.log"
        super().__init__([sys.executable, "-m", "webapp.launch", "--no-job", "--port", str(self.port)], env, log_path)

    def pid_of(self, name: str) -> int:
        starts = re.findall(rf"(?:started {name}|{name} restarted) as pid (\d+)", self.supervisor_log.read_text())
        return int(starts[-1])

    def restarted_after(self, name: str, old_pid: int) -> int | None:
        pid = self.pid_of(name)
        return pid if pid != old_pid and f"{name} restarted as pid {pid}" in self.supervisor_log.read_text() else None

    def healthy(self) -> bool:
        import urllib.error
        import urllib.request

        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5).status == 200
        except (urllib.error.URLError, OSError):
            return False


@pytest.fixture
def launch(redis_url, transactional_db, settings, tmp_path):
    """Factory: launch() -> a healthy Launcher on this test's Redis, or its own embedded one; stopped at teardown."""
    from django.db import connection

    redis.Redis.from_url(redis_url).flushdb()
    launched = []

    def start(embedded_redis: bool = False) -> Launcher:
        # One torch thread a worker: the tiny model gains nothing from more, and they would fight on a small box.
        env = process_env(redis_url, connection.settings_dict["NAME"], settings.DATA_DIR)
        env["FTLOOP_TORCH_THREADS"] = "1"
        if embedded_redis:
            del env["REDIS_URL"]
        stack = Launcher(env, settings.DATA_DIR, tmp_path / "launcher.log")
        launched.append(stack)
        wait_for(stack.healthy, timeout=240, interval=1, message=f"the launched stack:\n{tmp_path / 'launcher.log'}")
        return stack

    yield start
    for stack in launched:
        stack.stop()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def kill_and_wait_for_restart(launcher: Launcher, name: str, pid: int) -> int:
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    new_pid = wait_for(lambda: launcher.restarted_after(name, pid), timeout=15, interval=0.1,
                       message=f"{name} to be restarted")
    restart_s = time.monotonic() - killed
    measured(f"kill -9 {name}: restarted", restart_s)
    assert restart_s < 10 and alive(new_pid)
    return new_pid


@pytest.mark.slow
def test_the_launcher_restarts_killed_processes_resumes_training_and_fails_other_stages(launch, tmp_path):
    launcher = launch()
    names = ("worker-cpu", "worker-gpu", "worker-inference", "web", "reconciler")
    pids = {name: launcher.pid_of(name) for name in names}

    # Each worker and the web server, killed in turn, is back within 10 s; the others keep running.
    for name, queue in (("worker-cpu", "cpu"), ("worker-gpu", "gpu"), ("worker-inference", "inference")):
        killed = time.monotonic()
        pids[name] = kill_and_wait_for_restart(launcher, name, pids[name])
        assert all(alive(pid) for pid in pids.values()) and launcher.process.poll() is None
        wait_for(lambda: broker.live_workers()[queue].get(f"{queue}@{socket.gethostname()}") == pids[name],
                 timeout=120, message=f"the new {name} to be ready")
        measured(f"kill -9 {name}: serving its queue again", time.monotonic() - killed)
    killed = time.monotonic()
    pids["web"] = kill_and_wait_for_restart(launcher, "web", pids["web"])
    wait_for(launcher.healthy, timeout=60, message="the web server")
    measured("kill -9 web: answering again", time.monotonic() - killed)

    # A data cycle, then training on it: its worker killed after a checkpoint, it resumes with no click.
    dataset = start_data_cycle(size=200, seed=9, language="en")
    wait_for(lambda: dataset.runs.filter(status=Status.SUCCESS).count() == 4, timeout=180, message="the data stages")
    dataset.refresh_from_db()
    texts = [m["content"] for row in read_jsonl(dataset.directory / "chat_train.jsonl") for m in row["messages"]]
    base = str(make_tiny_llama(tmp_path / "tiny-llama", texts))
    # SFT for 120 steps, not the default head for 30: those end within a second or two, and the kill landed after
    # the run was over.
    run = training.start_training(dataset, {
        "trainer": "sft", "model_name": base, "num_epochs": 3.0, "max_steps": 120, "learning_rate": 5e-3, "batch_size": 4,
        "gradient_accumulation_steps": 1, "max_seq_length": 256, "warmup_ratio": 0.0, "lora_r": 8, "lora_alpha": 16,
        "lora_dropout": 0.0, "load_in_4bit": False, "eval_steps": 10, "checkpoint_minutes": 0.02, "seed": 1,
        "logging_steps": 5}, evaluate=False)
    wait_for(lambda: list_checkpoints(run.directory), timeout=240, message="a checkpoint")
    run.refresh_from_db()
    killed = time.monotonic()
    pids["worker-gpu"] = kill_and_wait_for_restart(launcher, "worker-gpu", run.worker_pid)
    saved = list_checkpoints(run.directory)[-1].step
    # Its second attempt may be over in a moment (the kill can land after the last step's checkpoint, which is
    # then the model), so the wait is for the attempt, not for a running state.
    wait_for(lambda: StageRun.objects.filter(pk=run.pk, attempts=2).exists(), timeout=120,
             message="the training to resume")
    measured("kill -9 the training's worker: training running again", time.monotonic() - killed)
    wait_for(lambda: StageRun.objects.get(pk=run.pk).is_finished, timeout=300, message="the resumed training")
    run.refresh_from_db()
    assert run.status == Status.SUCCESS, run.error
    assert run.result["resumed_from_step"] >= saved > 0 and run.result["steps_done"] == 120
    assert "Resuming from the last checkpoint: automatic attempt 1 of 3." in run.log_tail

    # A non-training stage whose worker is killed is failed with the reason, with no page view.
    big = start_data_cycle(size=20_000, seed=1, language="en")
    generate = stages(big)[0]
    wait_for(lambda: StageRun.objects.filter(pk=generate.pk, status=Status.STARTED, progress_done__gt=0).exists(),
             timeout=60, interval=0.1, message="generation to start")
    generate.refresh_from_db()
    killed = time.monotonic()
    pids["worker-cpu"] = kill_and_wait_for_restart(launcher, "worker-cpu", generate.worker_pid)
    wait_for(lambda: StageRun.objects.get(pk=generate.pk).is_finished, timeout=60, message="the killed stage to fail")
    measured("kill -9 a data stage's worker: stage failed with the reason", time.monotonic() - killed)
    generate.refresh_from_db()
    assert generate.status == Status.FAILURE and "killed or crashed" in generate.error
    assert [run.status for run in stages(big)[1:]] == [Status.REVOKED] * 3

    # Ctrl-C stops everything.
    assert launcher.stop(signal.SIGINT, timeout=60) == 0
    wait_for(lambda: not any(alive(pid) for pid in pids.values()), timeout=30, message="every child to exit")


@pytest.mark.slow
def test_the_launcher_restarts_its_embedded_redis_and_a_chain_lost_with_it_runs(launch):
    launcher = launch(embedded_redis=True)
    killed = time.monotonic()
    kill_and_wait_for_restart(launcher, "Redis", launcher.pid_of("Redis"))
    wait_for(launcher.healthy, timeout=60, message="the workers to serve their queues again")
    measured("kill -9 the embedded Redis: /healthz 200 again", time.monotonic() - killed)

    # Rows committed but never sent (their message died with Redis, or the sender between commit and send):
    # the launcher's reconciler sends them once they are overdue, and its workers run them.
    dataset = Dataset.objects.create(name="lost", params={"size": 60, "seed": 5, "language": "en",
                                                           "teacher": "template", "oversample": []})
    runs = services.create_chain([(kind, {}) for kind in DATA_STAGES], dataset=dataset)
    StageRun.objects.filter(pk__in=[run.pk for run in runs]).update(created_at=timezone.now() - timedelta(minutes=5))
    found = time.monotonic()
    wait_for(lambda: all(run.status == Status.SUCCESS for run in stages(dataset)), timeout=120,
             message="the lost chain to be sent and run")
    measured("a committed chain never sent: done by the reconciler", time.monotonic() - found)
