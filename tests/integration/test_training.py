"""Training on the gpu queue through a real worker: live metrics, kill -> re-queue -> resume, SIGTERM."""

import os
import signal

import pytest
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl
from pipeline.train.sft import list_checkpoints
from tests.conftest import wait_for
from tests.tiny_model import make_tiny_llama
from webapp.datasets.services import start_data_cycle
from webapp.runs import training
from webapp.runs.models import Metric, StageRun

pytestmark = pytest.mark.integration
Status = StageRun.Status


@pytest.fixture
def split_dataset(start_worker):
    worker = start_worker()
    dataset = start_data_cycle(size=200, seed=9, language="en")
    wait_for(lambda: dataset.runs.filter(status=Status.SUCCESS).count() == 4, timeout=120, message="data stages")
    dataset.refresh_from_db()
    return dataset, worker


@pytest.fixture
def tiny_base(split_dataset, tmp_path):
    dataset, _ = split_dataset
    texts = [m["content"] for row in read_jsonl(dataset.directory / "chat_train.jsonl") for m in row["messages"]]
    return str(make_tiny_llama(tmp_path / "tiny-llama", texts))


def params(base, **overrides):
    values = {"trainer": "sft", "model_name": base, "num_epochs": 1.0, "max_steps": 40, "learning_rate": 5e-3, "batch_size": 4,
              "gradient_accumulation_steps": 1, "max_seq_length": 256, "warmup_ratio": 0.0, "lora_r": 8,
              "lora_alpha": 16, "lora_dropout": 0.0, "load_in_4bit": False, "eval_steps": 10,
              "checkpoint_minutes": 5.0, "seed": 1, "logging_steps": 5}
    return values | overrides


def test_the_form_queues_training_and_the_page_shows_its_losses(engineer_client, split_dataset, tiny_base):
    dataset, _ = split_dataset
    response = engineer_client.post(reverse("training_new"), {"dataset": dataset.pk, "backend": "local",
                                                                 "preset": "hidden_params:sft", **params(tiny_base)})
    run = StageRun.objects.get(kind=StageRun.Kind.TRAIN)
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[run.pk])
    wait_for(lambda: StageRun.objects.get(pk=run.pk).is_finished, timeout=240, message="training")
    run.refresh_from_db()
    assert run.status == Status.SUCCESS, run.error
    assert run.result["steps_done"] == run.result["total_steps"] == 40
    losses = list(Metric.objects.filter(run=run, key="train/loss").order_by("step").values_list("value", flat=True))
    assert len(losses) >= 3 and losses[-1] < losses[0]
    assert Metric.objects.filter(run=run, key="eval/loss").count() >= 3
    series = engineer_client.get(reverse("run_metrics", args=[run.pk])).json()["series"]
    assert series["train/loss"]["value"] == losses
    page = engineer_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert "adapter.zip" in page and "run_card.json" in page
    adapter = engineer_client.get(reverse("run_artifact", args=[run.pk, "adapter.zip"]))
    assert adapter.status_code == 200 and b"adapter_config.json" in b"".join(adapter.streaming_content)


def test_the_regression_head_trains_from_the_form_and_its_adapter_answers_valid_json(engineer_client, split_dataset,
                                                                                     tiny_base):
    import json
    from pathlib import Path

    from pipeline.eval.predictors import build_predictor
    from pipeline.tasks.registry import get_task

    dataset, _ = split_dataset
    refused = engineer_client.post(reverse("training_new"), {"dataset": dataset.pk, "backend": "local",
                                                             "preset": "hidden_params:reg_head",
                                                             **params(tiny_base, load_in_4bit=True)})
    assert refused.status_code == 200 and "does not take load_in_4bit" in refused.content.decode()
    assert not StageRun.objects.filter(kind=StageRun.Kind.TRAIN).exists()

    engineer_client.post(reverse("training_new"), {"dataset": dataset.pk, "backend": "local",
                                                   "preset": "hidden_params:reg_head",
                                                   **params(tiny_base, max_steps=10, eval_steps=5)})
    run = StageRun.objects.get(kind=StageRun.Kind.TRAIN)
    wait_for(lambda: StageRun.objects.get(pk=run.pk).is_finished, timeout=240, message="training")
    run.refresh_from_db()
    assert run.status == Status.SUCCESS, run.error
    assert run.result["steps_done"] == 10
    assert Metric.objects.filter(run=run, key="eval/vector_mae").count() == 2
    adapter = run.result["adapter_dir"]
    assert json.loads((Path(adapter) / "cls_head.json").read_text())["kind"] == "regression"
    task = get_task("hidden_params")
    prediction = build_predictor(task, "fine_tuned", model_name=tiny_base, adapter=adapter).predict(["calm piano"])[0]
    assert task.parse(prediction.raw) is not None


def test_a_killed_training_worker_resumes_from_its_checkpoint_on_its_own(engineer_client, split_dataset, tiny_base,
                                                                          start_worker):
    dataset, worker = split_dataset
    run = training.start_training(dataset, params(tiny_base, max_steps=60, checkpoint_minutes=0.02), evaluate=False)
    wait_for(lambda: list_checkpoints(run.directory), timeout=180, message="a checkpoint")
    worker.kill()
    saved = list_checkpoints(run.directory)[-1].step

    engineer_client.get(reverse("dashboard"))  # any poll reconciles, as the reconciler process does
    run.refresh_from_db()
    assert run.status == Status.PENDING and run.resumes == 1
    assert "killed or crashed. Resuming from the last checkpoint: automatic attempt 1 of 3." in run.log_tail

    start_worker()
    wait_for(lambda: StageRun.objects.get(pk=run.pk).is_finished, timeout=300, message="the resumed training")
    run.refresh_from_db()
    assert run.status == Status.SUCCESS, run.error
    assert run.result["resumed_from_step"] >= saved > 0
    assert run.result["steps_done"] == run.result["total_steps"] == 60
    assert run.attempts == 2


def test_sigterm_checkpoints_and_marks_the_run_for_a_resume(split_dataset, tiny_base):
    dataset, worker = split_dataset
    run = training.start_training(dataset, params(tiny_base, max_steps=4000), evaluate=False)
    wait_for(lambda: StageRun.objects.filter(pk=run.pk, progress_done__gte=5).exists(), timeout=180, message="steps")
    os.kill(worker.process.pid, signal.SIGTERM)
    worker.process.wait(timeout=60)
    run.refresh_from_db()
    assert run.status == Status.FAILURE
    assert "the worker shut down at step" in run.error and "re-queue the run to resume" in run.error
    assert list_checkpoints(run.directory)[-1].step == run.progress_done
