"""Run lifecycle: status written by the base task, reconcile, cancel, re-queue (in-process)."""

import subprocess
import sys
from datetime import timedelta

import pytest
from celery.exceptions import Ignore
from django.utils import timezone

from webapp.datasets.models import Dataset
from webapp.datasets.services import DATA_STAGES
from webapp.runs import lifecycle, services
from webapp.runs.models import StageRun
from webapp.runs.reconcile import Reconciled, reconcile_runs
from workers import broker, tasks

pytestmark = pytest.mark.django_db
Status = StageRun.Status


@pytest.fixture
def chain(data_dir):
    dataset = Dataset.objects.create(name="d", params={"size": 120, "seed": 4, "language": "en", "teacher": "template"})
    return services.create_chain([(kind, {}) for kind in DATA_STAGES], dataset=dataset)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def started(run, pid, heartbeat_age_s=0):
    import socket

    lifecycle.mark_started(run, "task-id", socket.gethostname(), pid)
    StageRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - timedelta(seconds=heartbeat_age_s))


def test_the_base_task_runs_each_stage_and_records_success(chain):
    for run in chain:
        getattr(tasks, run.kind)(run.pk)
    runs = list(StageRun.objects.order_by("sequence"))
    assert [r.status for r in runs] == [Status.SUCCESS] * 4
    assert runs[0].result == {"generated": 120, "inherited": 0, "labelled": 0} and runs[0].attempts == 1
    assert "wrote 120 rows" in runs[0].log_tail
    assert runs[3].result["size"] == runs[2].result["counts"]["test"]


def test_a_failing_stage_is_marked_failed_with_its_error_and_skips_the_rest(chain):
    with pytest.raises(FileNotFoundError):
        tasks.filter(chain[1].pk)  # nothing generated yet
    runs = list(StageRun.objects.order_by("sequence"))
    assert runs[1].status == Status.FAILURE and "FileNotFoundError" in runs[1].error
    assert [r.status for r in runs[2:]] == [Status.REVOKED] * 2
    assert "skipped: Filter" in runs[2].error


def test_a_cancelled_pending_run_is_never_started(chain):
    services.cancel(chain[0])
    with pytest.raises(Ignore):  # the message still arrives: it is dropped, and the chain stops
        tasks.generate(chain[0].pk)
    run = StageRun.objects.get(pk=chain[0].pk)
    assert run.status == Status.REVOKED and run.started_at is None and run.attempts == 0


def test_a_running_stage_stops_at_its_next_progress_report(chain, monkeypatch):
    from webapp.runs.reporting import RunReporter

    original = RunReporter.on_progress

    def cancel_midway(self, done, total):
        if done >= total // 2:
            StageRun.objects.filter(pk=self.run_id).update(cancel_requested=True)
            self._last_progress = 0
        original(self, done, total)

    monkeypatch.setattr(RunReporter, "on_progress", cancel_midway)
    monkeypatch.setattr(RunReporter, "PROGRESS_EVERY_S", 0)
    with pytest.raises(Ignore):
        tasks.generate(chain[0].pk)
    run = StageRun.objects.get(pk=chain[0].pk)
    assert run.status == Status.REVOKED and run.error == "cancelled by a user"
    assert run.progress_done < 120


def test_reconcile_fails_a_run_whose_process_is_gone(chain):
    pid = dead_pid()
    started(chain[0], pid)
    assert reconcile_runs().failed == [chain[0]]
    run = StageRun.objects.get(pk=chain[0].pk)
    assert run.status == Status.FAILURE and f"pid {pid}" in run.error and "killed or crashed" in run.error
    assert StageRun.objects.filter(status=Status.REVOKED).count() == 3


def test_reconcile_fails_a_run_with_a_stale_heartbeat(chain, settings):
    import os

    started(chain[0], os.getpid(), heartbeat_age_s=settings.FTLOOP_HEARTBEAT_TIMEOUT_S + 5)
    StageRun.objects.filter(pk=chain[0].pk).update(worker_hostname="elsewhere")
    reconcile_runs()
    assert "No heartbeat from worker elsewhere" in StageRun.objects.get(pk=chain[0].pk).error


def test_reconcile_leaves_a_live_run_alone(chain):
    import os

    started(chain[0], os.getpid())
    assert reconcile_runs() == Reconciled()
    assert StageRun.objects.get(pk=chain[0].pk).status == Status.STARTED


def test_only_failed_or_cancelled_runs_can_be_requeued(chain, redis_url):
    with pytest.raises(ValueError, match="only failed or cancelled"):
        services.requeue(chain[0])
    started(chain[0], dead_pid())
    reconcile_runs()
    rows = services.requeue(StageRun.objects.get(pk=chain[0].pk))
    assert [r.pk for r in rows] == [r.pk for r in chain]
    assert set(StageRun.objects.values_list("status", flat=True)) == {Status.PENDING}
    assert set(StageRun.objects.values_list("error", flat=True)) == {""}


@pytest.fixture
def empty_broker(redis_url):
    """The session's Redis with no message in it, before and after the test."""
    import redis

    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.flushdb()


def age(run, seconds):
    StageRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(seconds=seconds))


def test_a_training_whose_worker_died_is_resumed_a_bounded_number_of_times(empty_broker, settings):
    settings.FTLOOP_TRAIN_RESUME_ATTEMPTS = 2
    [run] = services.create_chain([(StageRun.Kind.TRAIN, {"trainer": "reg_head", "backend": "local"})])
    for attempt in (1, 2):
        started(StageRun.objects.get(pk=run.pk), dead_pid())
        assert reconcile_runs().resumed == [run]
        resumed = StageRun.objects.get(pk=run.pk)
        assert resumed.status == Status.PENDING and resumed.resumes == attempt
        assert (f"killed or crashed. Resuming from the last checkpoint: automatic attempt {attempt} of 2."
                in resumed.log_tail)
        assert resumed.celery_task_id in broker.waiting_task_ids()
    started(StageRun.objects.get(pk=run.pk), dead_pid())
    assert reconcile_runs().failed == [run]
    failed = StageRun.objects.get(pk=run.pk)
    assert failed.status == Status.FAILURE and "It was resumed automatically 2 times already." in failed.error


def test_a_dead_workers_remote_training_is_failed_not_resumed(empty_broker):
    [run] = services.create_chain([(StageRun.Kind.TRAIN, {"backend": "hf_jobs"})])
    started(run, dead_pid())
    assert reconcile_runs().failed == [run]


def test_a_pending_run_whose_message_was_lost_is_sent_again_once(chain, empty_broker, settings):
    for run in chain:
        age(run, settings.FTLOOP_PENDING_GRACE_S + 1)
    assert reconcile_runs().resent == [chain[0]]
    head = StageRun.objects.get(pk=chain[0].pk)
    assert head.sent_at and head.celery_task_id in broker.waiting_task_ids()
    assert "sending it again" in head.log_tail
    assert reconcile_runs() == Reconciled()  # its message now waits in the queue


def test_the_stage_after_a_success_whose_next_step_was_refused_is_sent_with_the_rest_of_the_chain(chain, empty_broker,
                                                                                                  settings):
    started(chain[0], dead_pid())
    lifecycle.mark_succeeded(chain[0], {})
    StageRun.objects.filter(pk=chain[0].pk).update(
        finished_at=timezone.now() - timedelta(seconds=settings.FTLOOP_PENDING_GRACE_S + 1))
    for run in chain:
        age(run, 600)
    assert reconcile_runs().resent == [chain[1]]
    sent = StageRun.objects.filter(pk__in=[run.pk for run in chain[1:]])
    assert all(run.sent_at for run in sent)


def test_a_run_sent_moments_ago_or_behind_a_running_stage_is_left_alone(chain, empty_broker):
    assert reconcile_runs() == Reconciled()  # just created: its message may be on its way
    import os

    started(chain[0], os.getpid())
    for run in chain:
        age(run, 600)
    assert reconcile_runs() == Reconciled()  # the rest of the chain travels with the running stage
