"""Training on remote services as stages: Hugging Face Jobs, and Mistral's managed fine-tuning.

Both only upload, submit and poll, so they run on the cpu queue. The row's
params hold `backend` plus the hyperparameters; keys come from the environment
(webapp.secrets) and never reach the row.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.conf import settings

from pipeline.mistral import CostLedger, client_from_env
from pipeline.train.hf_jobs import run_hf_job_training
from pipeline.train.mistral_ft import MistralFTConfig, delete_model, fine_tune
from webapp.runs import tracking
from webapp.runs.models import StageRun
from webapp.runs.reporting import Cancelled, RunReporter
from webapp.runs.training import hyperparameters
from webapp.secrets import secret


def hf_namespace(token: str) -> str:
    if settings.FTLOOP_HF_NAMESPACE:
        return settings.FTLOOP_HF_NAMESPACE
    from huggingface_hub import HfApi

    return HfApi(token=token).whoami()["name"]


def train_hf_job(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Publish the splits, run sft.py as a uv job, follow it, pull the adapter back as this run's artifact."""
    token = secret("HF_TOKEN")
    if not token:
        raise ValueError("HF_TOKEN is not set: Hugging Face Jobs needs a token with write access (set it in the "
                         "worker's environment)")
    dataset, params = run.dataset, run.params
    namespace = hf_namespace(token)
    with tracking.open_for(run, reporter) as tracker:
        result = run_hf_job_training(
            dataset.directory / "chat_train.jsonl",
            dataset.directory / "chat_valid.jsonl",
            dataset_repo=params.get("dataset_repo") or f"{namespace}/ftloop-{dataset.version}",
            model_repo=params.get("model_repo") or f"{namespace}/ftloop-run{run.pk}-adapter",
            hyperparameters=hyperparameters(params),
            flavor=params.get("flavor") or settings.FTLOOP_HF_JOB_FLAVOR,
            token=token,
            dest_dir=run.directory,
            on_progress=reporter.update_progress,
            on_log=reporter.on_log,
            on_metric=tracking.metric_callback(reporter, tracker),
            should_stop=reporter.should_stop,
            on_submitted=lambda job: reporter.on_log(f"submitted HF job {job.job_id} on {job.flavor}: {job.url}"),
            interval_s=settings.FTLOOP_HF_POLL_S,
        )
        if result["status"] != "completed":
            raise Cancelled(f"cancelled: HF job {result['job_id']} was cancelled ({result['job_url']})")
        tracker.log_artifact(run.directory / "adapter", f"adapter-run{run.pk}", "adapter")
    return result | tracking.result_fields(run, tracker)


def train_mistral(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Upload, create, start and follow a managed fine-tuning job; record its fine_tuned_model.

    A 410/422 (no access to hosted fine-tuning) fails the run with the service's reason as its error.
    """
    dataset, params = run.dataset, run.params
    config = MistralFTConfig(
        train_file=str(dataset.directory / "chat_train.jsonl"),
        valid_file=str(dataset.directory / "chat_valid.jsonl"),
        model=params["model_name"],
        training_steps=params.get("max_steps") if params.get("max_steps", -1) > 0 else MistralFTConfig.training_steps,
        learning_rate=params.get("learning_rate", MistralFTConfig.learning_rate),
        suffix=f"ftloop-run{run.pk}",
        wandb_project=settings.FTLOOP_TRACKING_PROJECT,
        poll_interval_s=settings.FTLOOP_MISTRAL_POLL_S,
    )
    ledger = CostLedger()
    result = fine_tune(config, client_from_env(), on_progress=reporter.update_progress, on_metric=reporter.on_metric,
                       on_log=reporter.on_log, should_stop=reporter.should_stop, ledger=ledger)
    if not result.succeeded:
        if reporter.should_stop():
            raise Cancelled(f"cancelled: Mistral job {result.job_id} was cancelled")
        raise RuntimeError(f"Mistral job {result.job_id} ended {result.status}")
    return asdict(result) | {"costs": ledger.to_rows()}


def delete_mistral_model(run: StageRun) -> None:
    """Delete the run's fine-tuned model at Mistral (asked for from the run page) and note it on the row."""
    model = run.result.get("fine_tuned_model")
    if not model or run.result.get("model_deleted"):
        return
    delete_model(client_from_env(), model)
    StageRun.objects.filter(pk=run.pk).update(result={**run.result, "model_deleted": True})
