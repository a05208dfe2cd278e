"""Remote services from the web app, through a real worker and the real SDKs, against fakes on 127.0.0.1.

One journey per backend: a dataset written by the Mistral teacher, training on
Hugging Face Jobs, Mistral managed fine-tuning (and its 410), the fine-tuned
model evaluated as a remote predictor, tracking in Trackio or W&B offline; then
every log, page and database row is searched for the secret values.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.apps import apps
from django.urls import reverse

from pipeline.tracking import read_wandb_offline
from tests.conftest import wait_for
from tests.fakes.hf_server import FAKE_TOKEN, FAKE_USER, JobPlan, fake_hub, isolate_sdk  # noqa: F401
from tests.fakes.mistral_server import FAKE_API_KEY, fake_mistral  # noqa: F401
from tests.tiny_model import make_tiny_llama
from webapp.datasets.models import Dataset
from webapp.runs.models import StageRun

pytestmark = pytest.mark.integration
Status = StageRun.Status
WANDB_KEY = "wandb-fake-key-0123456789abcdef0123456789abcdef"
ADAPTER_FILES = {"adapter_config.json": b'{"peft_type": "LORA", "r": 8}', "adapter_model.safetensors": b"fake-weights"}


@pytest.fixture
def remote_env(monkeypatch, fake_mistral, fake_hub, tmp_path):  # noqa: F811 - fixtures imported above
    """The worker's environment: keys, and every SDK pointed at its fake."""
    for name, value in {
        "MISTRAL_API_KEY": FAKE_API_KEY, "MISTRAL_SERVER_URL": fake_mistral.url,
        "HF_TOKEN": FAKE_TOKEN, "HF_ENDPOINT": fake_hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1", "FTLOOP_HF_POLL_S": "0.05", "FTLOOP_MISTRAL_POLL_S": "0.05",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("WANDB_API_KEY", "WANDB_MODE", "FTLOOP_TRACKING"):
        monkeypatch.delenv(name, raising=False)
    fake_hub.job_plan = JobPlan(adapter_files=ADAPTER_FILES)
    return fake_mistral, fake_hub


def finished(run: StageRun) -> StageRun | None:
    run.refresh_from_db()
    return run if run.is_finished else None


def newest_train_run() -> StageRun:
    return StageRun.objects.filter(kind=StageRun.Kind.TRAIN).order_by("-pk").first()


def submit_training(client, dataset: Dataset, **fields) -> StageRun:
    form = {"dataset": dataset.pk, "preset": "hidden_params:sft", "model_name": "smollm2-135m-instruct", "num_epochs": 1,
            "max_steps": 2,
            "learning_rate": 1e-4, "batch_size": 8, "gradient_accumulation_steps": 1, "max_seq_length": 256,
            "warmup_ratio": 0.0, "lora_r": 8, "lora_alpha": 16, "lora_dropout": 0.0, "eval_steps": 1,
            "logging_steps": 1, "checkpoint_minutes": 5, "seed": 1, "flavor": "a10g-small", **fields}
    before = newest_train_run()
    response = client.post(reverse("training_new"), form)
    assert response.status_code == 302, response.content.decode()[:3000]
    run = newest_train_run()
    assert run != before
    return wait_for(lambda: finished(run), timeout=180, message=f"training run {run.pk}")


def all_rows_text() -> str:
    """Every row of every table, as text."""
    return "\n".join(json.dumps(list(model.objects.values()), default=str)
                     for model in apps.get_models())


def assert_no_secret(text: str, where: str) -> None:
    for value in (FAKE_API_KEY, FAKE_TOKEN, WANDB_KEY):
        assert value not in text, f"a secret value appears in {where}"


def test_mistral_teacher_hf_jobs_and_mistral_fine_tuning_from_the_web_app_leak_no_secret(
        remote_env, engineer_client, start_worker, settings, tmp_path):
    fake_mistral, fake_hub = remote_env
    worker = start_worker()
    fake_mistral.chat_failures = [429]  # the first teacher call is rate limited, then retried

    # A dataset written by the Mistral teacher, with a budget, through the form.
    response = engineer_client.post(reverse("dataset_new"), {
        "size": 60, "seed": 3, "language": "en", "teacher": "mistral", "teacher_budget_usd": "1", "name": "mistral"})
    assert response.status_code == 302
    dataset = Dataset.objects.get(name="mistral")
    wait_for(lambda: dataset.runs.filter(status=Status.SUCCESS).count() == 4
             or dataset.runs.filter(status=Status.FAILURE).exists(), timeout=120, message="data stages")
    generate = dataset.runs.get(kind=StageRun.Kind.GENERATE)
    assert generate.status == Status.SUCCESS, generate.error
    assert generate.result["generated"] == 60 and generate.result["teacher_usd"] > 0
    assert len(generate.result["costs"]) == 60 and "retry" in generate.log_tail.lower()
    dataset.refresh_from_db()
    assert dataset.runs.filter(status=Status.SUCCESS).count() == 4, [(r.kind, r.error) for r in dataset.runs.all()]

    # Remote backends refuse to start without the explicit confirmation.
    page = engineer_client.post(reverse("training_new"), {"dataset": dataset.pk, "backend": "hf_jobs"}).content.decode()
    assert "Tick this box to submit a billed remote job." in page

    # Hugging Face Jobs: publish, submit, follow, pull the adapter back; tracked in Trackio.
    hf_run = submit_training(engineer_client, dataset, backend="hf_jobs", confirm_remote="on")
    assert hf_run.status == Status.SUCCESS, hf_run.error
    assert Path(hf_run.result["adapter_dir"], "adapter_config.json").read_bytes() == ADAPTER_FILES["adapter_config.json"]
    published = fake_hub.files(f"{FAKE_USER}/ftloop-{dataset.version}", "dataset")
    assert published["train.jsonl"] == (dataset.directory / "chat_train.jsonl").read_bytes()
    (job,) = fake_hub.jobs.values()
    assert job.spec["flavor"] == "a10g-small"
    assert hf_run.result["tracker"]["backend"] == "trackio"
    run_page = engineer_client.get(reverse("run_detail", args=[hf_run.pk])).content.decode()
    assert hf_run.result["job_url"] in run_page and reverse("run_tracker", args=[hf_run.pk]) in run_page
    tracker_page = engineer_client.get(reverse("run_tracker", args=[hf_run.pk])).content.decode()
    assert "train/loss" in tracker_page and f"adapter-run{hf_run.pk}" in tracker_page

    # Mistral managed fine-tuning: upload -> job -> fine_tuned_model, then evaluated as a remote predictor.
    mistral_run = submit_training(engineer_client, dataset, backend="mistral", model_name="ministral-3b-latest",
                                  confirm_remote="on")
    assert mistral_run.status == Status.SUCCESS, mistral_run.error
    model = mistral_run.result["fine_tuned_model"]
    assert model and fake_mistral.requests_to("/v1/files", "POST")
    response = engineer_client.post(reverse("run_evaluate_remote", args=[mistral_run.pk]))
    evaluation = StageRun.objects.filter(kind=StageRun.Kind.EVALUATE).latest("pk")
    assert response.status_code == 302 and evaluation.params == {"predictor": "remote", "model_name": model}
    wait_for(lambda: finished(evaluation), timeout=120, message="remote evaluation")
    assert evaluation.status == Status.SUCCESS, evaluation.error
    metrics = evaluation.result["metrics"]
    n = metrics["n_examples"]
    # 200 prompt + 25 completion tokens a request at ministral-3b's 0.10 USD per million tokens each.
    assert n == dataset.frozen_eval_set.size and metrics["json_valid_rate"] == 1.0
    assert metrics["cost_per_100_requests_usd"] == pytest.approx(100 * 225 * 0.10 / 1e6)

    # A 410 from the service becomes a clear message on the run page.
    fake_mistral.fine_tuning_status = 410
    gone = submit_training(engineer_client, dataset, backend="mistral", model_name="ministral-3b-latest",
                           confirm_remote="on")
    assert gone.status == Status.FAILURE and "410" in gone.error
    page = engineer_client.get(reverse("run_detail", args=[gone.pk])).content.decode()
    assert "no access to hosted fine-tuning" in page.lower() or "not available" in page.lower()
    assert "Traceback" not in page

    # No secret in the worker's log, any page, any row, or the tracker's files.
    worker.stop()
    assert_no_secret(worker.log_path.read_text(errors="replace"), "the worker log")
    for url in [reverse("dashboard"), reverse("dataset_detail", args=[dataset.pk]), reverse("playground"),
                reverse("training_new"), reverse("run_tracker", args=[hf_run.pk]), reverse("compare") + f"?runs={evaluation.pk}"] + [
            reverse("run_detail", args=[run.pk]) for run in StageRun.objects.all()]:
        response = engineer_client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(response.content.decode(), url)
    assert_no_secret(all_rows_text(), "the database")
    for path in Path(settings.DATA_DIR).rglob("*"):
        if path.is_file():
            assert_no_secret(path.read_bytes().decode(errors="replace"), str(path))


def test_a_local_run_with_wandb_offline_writes_its_metrics_and_artifacts(
        monkeypatch, engineer_client, start_worker, settings, tmp_path):
    for name, value in {"WANDB_MODE": "offline", "WANDB_API_KEY": WANDB_KEY, "WANDB_DIR": str(tmp_path / "wandb"),
                        "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb-config"),
                        "WANDB_DATA_DIR": str(tmp_path / "wandb-data")}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FTLOOP_TRACKING", raising=False)
    worker = start_worker()
    from webapp.datasets.services import start_data_cycle

    dataset = start_data_cycle(size=120, seed=2, language="en")
    wait_for(lambda: dataset.runs.filter(status=Status.SUCCESS).count() == 4, timeout=120, message="data stages")
    dataset.refresh_from_db()
    texts = [m["content"] for row in map(json.loads, (dataset.directory / "chat_train.jsonl").read_text().splitlines())
             for m in row["messages"]]
    base = str(make_tiny_llama(tmp_path / "tiny", texts))
    run = submit_training(engineer_client, dataset, backend="local", model_name=base, max_steps=4, eval_steps=2,
                          learning_rate=5e-3, batch_size=4)
    assert run.status == Status.SUCCESS, run.error
    ref = run.result["tracker"]
    assert ref["backend"] == "wandb" and Path(ref["dir"]).name.startswith("offline-run-")
    stored = read_wandb_offline(Path(ref["dir"]))
    assert [step for step, _ in stored["metrics"]["train/loss"]] == [1, 2, 3, 4]
    assert {artifact["type"] for artifact in stored["artifacts"]} == {"dataset", "adapter"}
    page = engineer_client.get(reverse("run_detail", args=[run.pk])).content.decode()
    assert reverse("run_tracker", args=[run.pk]) in page
    tracker_page = engineer_client.get(reverse("run_tracker", args=[run.pk])).content.decode()
    assert "wandb sync" in tracker_page and "train/loss" in tracker_page
    worker.stop()
    assert_no_secret(worker.log_path.read_text(errors="replace"), "the worker log")
    assert_no_secret(all_rows_text() + page + tracker_page, "rows and pages")
