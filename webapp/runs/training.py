"""Local LoRA/QLoRA training as a stage: the run row holds the hyperparameters, pipeline/ trains."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings

from pipeline.train.sft import SFTRunConfig
from pipeline.train.sft import train as train_sft
from webapp.datasets.models import Dataset
from webapp.runs import services
from webapp.runs.models import StageRun
from webapp.runs.reporting import Cancelled, RunReporter


class Interrupted(RuntimeError):
    """The worker shut down mid-training; the checkpoint it saved lets a re-queue resume."""


def run_dir(run: StageRun) -> Path:
    return Path(settings.DATA_DIR) / "runs" / str(run.pk)


def start_training(dataset: Dataset, params: dict[str, Any], user=None) -> StageRun:
    """Create the run row with its hyperparameters, then enqueue its id on the gpu queue."""
    SFTRunConfig(train_file="-", output_dir="-", **params)  # refuse bad combinations before queueing
    run = StageRun.objects.create(kind=StageRun.Kind.TRAIN, dataset=dataset, params=params, created_by=user)
    services.enqueue([run])
    return run


def train(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    dataset = run.dataset
    config = SFTRunConfig(
        train_file=str(dataset.directory / "chat_train.jsonl"),
        valid_file=str(dataset.directory / "chat_valid.jsonl"),
        output_dir=str(run_dir(run)),
        resume=True,
        **run.params,
    )
    result = train_sft(
        config,
        on_progress=reporter.update_progress,
        on_metric=reporter.on_metric,
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
    return asdict(result)
