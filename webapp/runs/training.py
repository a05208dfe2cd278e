"""Local LoRA/QLoRA training as a stage: the run row holds the hyperparameters, pipeline/ trains.

A text-task dataset (pipeline.tasks.registry) trains through webapp.runs.task_training,
with the same tracking (`run_training`) and the same experiment record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from django.conf import settings

from pipeline.train import reg_head, sft
from pipeline.train.experiment_record import record_from_run_dir
from pipeline.train.sft import RUN_CARD_NAME, TrainResult
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
# The six-parameter task's local backends: (config class, train function, the split file it reads).
# HF Jobs runs sft.py too, so its params are checked as "local"'s.
TRAINERS: dict[str, tuple[type, Callable[..., TrainResult], str]] = {
    "local": (sft.SFTRunConfig, sft.train, "chat_{split}.jsonl"),
    "reg_head": (reg_head.RegHeadRunConfig, reg_head.train, "{split}.jsonl"),
}


def hyperparameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """A training row's params without the run options: what the trainer's config takes."""
    return {key: value for key, value in params.items() if key not in RUN_OPTIONS}


def config_from_params(config_class: type, params: Mapping[str, Any], skip: Sequence[str] = (), **paths: Any) -> Any:
    """A trainer's config from the params it knows (without the run options and `skip`), `paths` on top.

    An option the trainer does not know is dropped when unset and a ValueError naming it when set (QLoRA asked
    of a head, say), so one form can serve every trainer.
    """
    known = {field.name for field in fields(config_class)} - set(paths) - set(skip)
    options = {key: value for key, value in hyperparameters(params).items() if key not in skip}
    refused = sorted(key for key, value in options.items() if key not in known and value)
    if refused:
        raise ValueError(f"the {params.get('backend', 'local')} trainer does not take {', '.join(refused)}")
    return config_class(**paths, **{key: value for key, value in options.items() if key in known})


def check_params(params: Mapping[str, Any]) -> None:
    """Refuse, with a ValueError naming the option, params the six-parameter task's trainer cannot take; HF Jobs
    runs sft.py, so its params are checked as "local"'s, and Mistral's own service checks its own."""
    backend = params.get("backend", "local")
    if backend in (*TRAINERS, "hf_jobs"):
        config_from_params(TRAINERS["local" if backend == "hf_jobs" else backend][0], params,
                           train_file="-", output_dir="-")


def start_training(dataset: Dataset, params: dict[str, Any], user=None) -> StageRun:
    """Create the run row (backend + hyperparameters), then enqueue its id: local on gpu, remote backends on cpu.

    A text-task dataset gets train -> evaluate x3 -> verdict as one chain (webapp.runs.task_training).
    """
    if dataset.text_task:
        from webapp.runs import task_training  # it builds on this module

        return task_training.start_training(dataset, params, user)
    check_params(params)  # refuse bad combinations now, not in the worker
    run = StageRun.objects.create(kind=StageRun.Kind.TRAIN, dataset=dataset, params=params, created_by=user)
    services.enqueue([run])
    return run


def train(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """The backend's trainer (SFT on the chat files, or the regression head on the split files); a text
    task's training is task_training's."""
    dataset = run.dataset
    if dataset.text_task:
        from webapp.runs import task_training

        return task_training.train(run, reporter)
    config_class, trainer, split_file = TRAINERS[run.params.get("backend", "local")]
    config = config_from_params(
        config_class, run.params,
        train_file=str(dataset.directory / split_file.format(split="train")),
        valid_file=str(dataset.directory / split_file.format(split="valid")),
        output_dir=str(run_dir(run)),
        resume=True,
    )
    return run_training(run, reporter, trainer, config)


def run_training(run: StageRun, reporter: RunReporter, trainer: Callable[..., TrainResult], config: Any,
                 extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Train with `trainer` (sft.train, cls_head.train) and its `config`, reporting every metric both to the run
    row and to the tracker run, which gets the artifacts; the result (plus `extra`) gets an experiment record."""
    with tracking.open_for(run, reporter) as tracker:
        tracker.log_artifact(Path(config.train_file), f"dataset-{run.dataset.version}", "dataset")
        result = trainer(
            config,
            on_progress=reporter.update_progress,
            on_metric=tracking.metric_callback(reporter, tracker),
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
    outcome = asdict(result) | dict(extra or {}) | tracking.result_fields(run, tracker)
    write_experiment_record(run, outcome)
    return outcome


def write_experiment_record(run: StageRun, result: Mapping[str, Any], evaluations: Sequence[StageRun] = (),
                            eval_commands: Sequence[str] = ()) -> Path | None:
    """EXPERIMENT.md beside the run card (pipeline.train.experiment_record), None without a local run card.

    Written when training ends; the verdict stage writes it again with the chain's evaluations.
    """
    if not (run_dir(run) / RUN_CARD_NAME).is_file():
        return None
    dataset, params = run.dataset, run.params
    options = "".join(f", {key.replace('_', ' ')} {params[key]}" for key in ("preset", "train_mode") if key in params)
    notes = [f"Dataset {dataset.name} ({dataset.version}), task {dataset.task_type}, backend "
             f"{params.get('backend', 'local')}{options}."]
    if result.get("left_out"):
        left_out = result["left_out"]
        notes.append(f"{left_out['rows']} of {left_out['of']} train rows left out: {left_out['first_reason']}")
    if result.get("tracker_url"):
        notes.append(f"Tracker run: {result['tracker_url']}")
    path, _ = record_from_run_dir(
        run_dir(run), run_id=f"run{run.pk}", notes="\n\n".join(notes), eval_commands=eval_commands,
        eval_results={evaluation.params["predictor"]: evaluation.result.get("metrics", {}) for evaluation in evaluations},
    )
    return path
