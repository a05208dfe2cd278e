"""The data half of a cycle through the real stack: view -> Redis -> Celery worker -> rows and files."""

import json

import pytest
from django.urls import reverse

from tests.conftest import wait_for
from webapp.datasets.models import Dataset, FrozenEvalSet
from webapp.runs.models import StageRun

pytestmark = pytest.mark.integration
Status = StageRun.Status


def runs_of(dataset):
    return list(StageRun.objects.filter(dataset=dataset).order_by("sequence"))


def finished(dataset):
    runs = runs_of(dataset)
    return runs if runs and all(run.is_finished for run in runs) else None


def test_it_drives_the_form_to_a_frozen_set(engineer_client, start_worker, data_dir):
    start_worker()
    response = engineer_client.post(reverse("dataset_new"), {"size": 400, "seed": 3, "language": "mixed", "teacher": "template"})
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("dataset_detail", args=[dataset.pk])

    runs = wait_for(lambda: finished(dataset), timeout=120, message="the four stages")
    assert [(run.kind, run.status) for run in runs] == [
        ("generate", Status.SUCCESS), ("filter", Status.SUCCESS), ("split", Status.SUCCESS), ("freeze", Status.SUCCESS)
    ], [run.error for run in runs]
    assert all(run.progress_percent == 100 and run.started_at and run.finished_at for run in runs)
    assert runs[0].result == {"generated": 400, "inherited": 0, "labelled": 0}

    dataset.refresh_from_db()
    counts = dataset.stats["counts"]
    assert counts["total"] == runs[1].result["kept"] == dataset.examples.count()
    assert counts["train"] == round(counts["total"] * 0.8)
    frozen = FrozenEvalSet.objects.get()
    assert dataset.frozen_eval_set == frozen and frozen.size == counts["test"]
    assert (data_dir / "frozen" / f"{frozen.content_hash}.jsonl").exists()
    stats_file = json.loads((dataset.directory / "ft_split_stats.json").read_text())
    assert stats_file["counts"] == counts

    page = engineer_client.get(reverse("dataset_detail", args=[dataset.pk]))
    assert frozen.content_hash in page.content.decode()
    download = engineer_client.get(reverse("dataset_download", args=[dataset.pk, "chat_train.jsonl"]))
    lines = b"".join(download.streaming_content).decode().splitlines()
    assert len(lines) == counts["train"] and json.loads(lines[0])["messages"][2]["role"] == "assistant"


def test_a_killed_worker_leaves_a_failed_run_and_a_rerun_succeeds(engineer_client, start_worker, settings):
    from webapp.datasets.services import start_data_cycle

    worker = start_worker()
    dataset = start_data_cycle(size=20_000, seed=1, language="en")
    generate = runs_of(dataset)[0]
    wait_for(lambda: StageRun.objects.filter(pk=generate.pk, status=Status.STARTED, progress_done__gt=0).exists(),
             timeout=60, message="generation to start")
    worker.kill()

    engineer_client.get(reverse("dashboard"))  # any poll reconciles
    generate.refresh_from_db()
    assert generate.status == Status.FAILURE
    assert "killed or crashed" in generate.error and str(generate.worker_pid) in generate.error
    assert [run.status for run in runs_of(dataset)[1:]] == [Status.REVOKED] * 3
    detail = engineer_client.get(reverse("run_detail", args=[generate.pk])).content.decode()
    assert "killed or crashed" in detail and "Re-queue" in detail

    start_worker()
    engineer_client.post(reverse("run_requeue", args=[generate.pk]))
    runs = wait_for(lambda: finished(dataset), timeout=240, message="the re-queued chain")
    assert [run.status for run in runs] == [Status.SUCCESS] * 4, [run.error for run in runs]
    assert runs[0].attempts == 2
    dataset.refresh_from_db()
    assert dataset.frozen_eval_set is not None
