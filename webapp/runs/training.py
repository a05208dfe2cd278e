"""Local LoRA/QLoRA training as a stage: the run row holds the hyperparameters, pipeline/ trains."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings

from pipeline.train.sft import SFTRunConfig
from pipeline.train.sft import train as train_sft
from webapp.datasets.models import Dataset
from webapp.runs import services, tracking
from webapp.runs.models import StageRun
from webapp.runs.reporting import Cancelled, RunReporter


class Interrupted(RuntimeError):
    """The worker shut down mid-training; the checkpoint it saved lets a re-queue resume."""


def run_dir(run: StageRun) -> Path:
    return Path(settings.DATA_DIR) / "runs" / str(run.pk)


# Params of a training row that are not hyperparameters of the trainer.
RUN_OPTIONS = ("backend", "flavor", "dataset_repo", "model_repo")


def hyperparameters(run: StageRun) -> dict[str, Any]:
    return {key: value for key, value in run.params.items() if key not in RUN_OPTIONS}


def start_training(dataset: Dataset, params: dict[str, Any], user=None) -> StageRun:
    """Create the run row (backend + hyperparameters), then enqueue its id: local on gpu, remote backends on cpu."""
    if params.get("backend", "local") in ("local", "hf_jobs"):  # both run sft.py: refuse bad combinations now
        SFTRunConfig(train_file="-", output_dir="-", **{k: v for k, v in params.items() if k not in RUN_OPTIONS})
    run = StageRun.objects.create(kind=StageRun.Kind.TRAIN, dataset=dataset, params=params, created_by=user)
    services.enqueue([run])
    return run


def train(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Train, reporting every metric both to the run row and to the tracker run, which gets the artifacts."""
    dataset = run.dataset
    config = SFTRunConfig(
        train_file=str(dataset.directory / "chat_train.jsonl"),
        valid_file=str(dataset.directory / "chat_valid.jsonl"),
        output_dir=str(run_dir(run)),
        resume=True,
        **hyperparameters(run),
    )

    with tracking.open_for(run, reporter) as tracker:
        def on_metric(key: str, step: int, value: float) -> None:
            reporter.on_metric(key, step, value)
            tracker.log({key: value}, step=step)

        tracker.log_artifact(Path(config.train_file), f"dataset-{dataset.version}", "dataset")
        result = train_sft(
            config,
            on_progress=reporter.update_progress,
            on_metric=on_metric,
            on_log=reporter.on_log,
            should_stop=reporter.should_stop,
            handle_signals=False,  # Celery owns the signals; a warm shutdown reaches us through should_stop
        )
        reporter.update_progress(result.steps_done, result.total_steps, force=True)
        where = f"at step {result.steps_done}/{result.total_steps}"
        if result.status != "completed":
            if reporter.cancel_requested():
                raise Cancelled(f"cancelled by a user {where}; the last checkpoint is kept")
            raise Interrupted(f"the worker shut down {where}; a checkpoint was saved: re-queue the run to resume")
        tracker.log_artifact(Path(result.adapter_dir), f"adapter-run{run.pk}", "adapter")
    return asdict(result) | tracking.result_fields(run, tracker)
