"""Local training as a stage: the run row holds the trainer, the backend and the hyperparameters.

`params["trainer"]` names what learns (sft, reg_head, cls_head: `TRAINERS`),
`params["backend"]` where it runs (local here; hf_jobs and mistral in
webapp.runs.remote_training). A training preset of the dataset's task may add
data options (a train mode, retrieved context) that the task's
`prepare_rows`/`chat_messages` read; the trainer gets files written into the
run directory from the task's rows, so nothing here names a task type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from django.db import transaction

from pipeline.data.jsonl import read_jsonl, write_jsonl
from pipeline.tasks.registry import Task, TrainingPreset, render_chats
from pipeline.train.experiment_record import record_from_run_dir
from pipeline.train.registry import TRAINERS, defaults
from pipeline.train.sft import RUN_CARD_NAME, TrainResult
from webapp.datasets.models import Dataset
from webapp.runs import services, tracking
from webapp.runs.models import StageRun
from webapp.runs.reporting import Cancelled, RunReporter


class Interrupted(RuntimeError):
    """The worker shut down mid-training; the checkpoint it saved lets a re-queue resume."""


# Params of a training row that are not hyperparameters of the trainer...
RUN_OPTIONS = ("trainer", "backend", "flavor", "dataset_repo", "model_repo")
# ...and those that shape the data the trainer reads (a preset's), not the trainer.
DATA_OPTIONS = ("preset", "train_mode", "retrieval_context", "retrieval_top_k")
BACKENDS = ("local", "hf_jobs", "mistral")
# Config fields set here from the run, never from params (SFT's own train_mode stays "sft").
_SET_HERE = ("train_file", "valid_file", "output_dir", "resume", "train_mode")


def hyperparameters(params: Mapping[str, Any]) -> dict[str, Any]:
    """A training row's params without the run and data options: what the trainer's config takes."""
    return {key: value for key, value in params.items() if key not in RUN_OPTIONS + DATA_OPTIONS}


def config_from_params(config_class: type, params: Mapping[str, Any], **paths: Any) -> Any:
    """A trainer's config from the params it knows, `paths` on top.

    An option the trainer does not know is dropped when unset and a ValueError naming it when set (QLoRA asked
    of a head, say), so one form can serve every trainer.
    """
    known = {field.name for field in fields(config_class)} - set(paths) - set(_SET_HERE)
    options = hyperparameters(params)
    refused = sorted(key for key, value in options.items() if key not in known and value)
    if refused:
        raise ValueError(f"the {params.get('trainer', 'sft')} trainer does not take {', '.join(refused)}")
    return config_class(**paths, **{key: value for key, value in options.items() if key in known})


def trainer_defaults(trainer: str) -> dict[str, Any]:
    """The trainer's hyperparameter defaults, read from its config dataclass (the one source of them)."""
    return {key: value for key, value in defaults(trainer).items() if key not in _SET_HERE}


def preset_of(task: Task, key: str) -> TrainingPreset:
    for preset in task.presets:
        if preset.key == key:
            return preset
    raise ValueError(f"{task.name} has no preset {key!r}; choose one of {', '.join(p.key for p in task.presets)}")


def training_params(task: Task, preset_key: str | None, hyperparameters: Mapping[str, Any],
                    backend: str = "local") -> dict[str, Any]:
    """The run's params: hyperparameters, then the preset's options (they win); the preset names the trainer
    (the task's default trainer when none is chosen or the preset names none)."""
    options = dict(preset_of(task, preset_key).params) if preset_key else {}
    trainer = options.pop("trainer", task.default_trainer)
    return {**hyperparameters, **options, "trainer": trainer, "backend": backend,
            **({"preset": preset_key} if preset_key else {})}


def check_params(task: Task, params: Mapping[str, Any]) -> None:
    """Refuse, with a ValueError naming the problem, params the task's trainer cannot take (before the worker
    would). HF Jobs runs sft.py, so its params are checked as SFT's; Mistral's service checks its own."""
    trainer, backend = params.get("trainer", task.default_trainer), params.get("backend", "local")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if trainer not in task.trainers:
        raise ValueError(f"{task.name} trains with {' or '.join(task.trainers)}, not {trainer!r}")
    if backend != "local" and trainer != "sft":
        raise ValueError(f"the {backend} backend fine-tunes generatively (sft), not with {trainer}")
    if backend != "mistral":
        config_from_params(TRAINERS[trainer].config_class, params, train_file="-", output_dir="-")


def trainer_rows(task: Task, dataset: Dataset, params: Mapping[str, Any],
                 split: str) -> tuple[list[dict[str, Any]], list[str], int]:
    """(what the trainer reads of a split, why each left-out row cannot be used, how many rows the split has).

    SFT reads chats (the task's `chat_messages` in the preset's train mode), a head the prepared rows.
    """
    rows = task.prepare_rows(read_jsonl(dataset.directory / f"{split}.jsonl"), params)
    if TRAINERS[params.get("trainer", task.default_trainer)].reads != "chats":
        return rows, [], len(rows)
    usable, refused = render_chats(task, rows, params.get("train_mode"))
    return usable, refused, len(rows)


def usable_train_rows(task: Task, dataset: Dataset,
                      params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The train split as the run reads it, and {"rows", "of", "first_reason"} when some rows had to be left
    out; a ValueError when the train mode can use none of them."""
    usable, refused, total = trainer_rows(task, dataset, params, "train")
    if not usable:
        raise ValueError(f"train mode {params.get('train_mode')!r} can use none of the {total} train rows of "
                         f"dataset #{dataset.pk}: {refused[0] if refused else 'the split is empty'}")
    return usable, {"rows": len(refused), "of": total, "first_reason": refused[0]} if refused else None


def train_and_evaluate_steps(training: Mapping[str, Any],
                             evaluation: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """train -> evaluate (rule, prompt and fine-tuned predictors) -> verdict: the model half of a cycle."""
    from pipeline.tasks.registry import PREDICTORS

    steps: list[tuple[str, dict[str, Any]]] = [(StageRun.Kind.TRAIN, dict(training))]
    for predictor in PREDICTORS:
        params: dict[str, Any] = {"predictor": predictor}
        if predictor != "rule_baseline":
            params |= {"model_name": training.get("model_name"), **evaluation}
        steps.append((StageRun.Kind.EVALUATE, params))
    steps.append((StageRun.Kind.VERDICT, {}))
    return steps


def create_train_chain(steps: Sequence[tuple[str, dict[str, Any]]], **fields: Any) -> list[StageRun]:
    """The rows of a chain holding a training run; its evaluations name it (fine_tuned loads its model, and every
    predictor reads the same inputs, e.g. train mode and retrieved context, as the model it is compared with)."""
    rows = services.create_chain(steps, **fields)
    train = next(run for run in rows if run.kind == StageRun.Kind.TRAIN)
    for run in rows:
        if run.kind == StageRun.Kind.EVALUATE:
            run.params["train_run_id"] = train.pk
            run.save(update_fields=["params"])
    return rows


def start_training(dataset: Dataset, params: dict[str, Any], user=None, evaluate: bool = True) -> StageRun:
    """Check the params against the task and the data (so the form can say what is wrong), then train ->
    evaluate x3 -> verdict as one chain; returns the train row. Remote backends train alone, and so does a run
    started with `evaluate` False (a model wanted for itself, e.g. to try in the playground)."""
    task = dataset.task
    check_params(task, params)
    if params.get("backend", "local") != "local" or not evaluate:
        run = StageRun.objects.create(kind=StageRun.Kind.TRAIN, dataset=dataset, params=params, created_by=user)
        services.enqueue([run])
        return run
    usable_train_rows(task, dataset, params)
    with transaction.atomic():
        rows = create_train_chain(train_and_evaluate_steps(params, {}), dataset=dataset, created_by=user)
    services.enqueue(rows)
    return rows[0]


def train(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Write the files the trainer reads into the run directory, then train (tracked, checkpointed, resumable)."""
    dataset, params, task = run.dataset, run.params, run.dataset.task
    trainer = params.get("trainer", task.default_trainer)
    chosen = TRAINERS[trainer]
    directory = run.directory
    prefix = "chat" if chosen.reads == "chats" else "rows"
    train_rows, left_out = usable_train_rows(task, dataset, params)
    if left_out:
        reporter.on_log(f"left out {left_out['rows']} of {left_out['of']} train rows that train mode "
                        f"{params.get('train_mode')!r} cannot use, e.g. {left_out['first_reason']}")
    train_file = write_jsonl(directory / f"{prefix}_train.jsonl", train_rows)
    valid_rows, _, _ = trainer_rows(task, dataset, params, "valid")
    valid_file = write_jsonl(directory / f"{prefix}_valid.jsonl", valid_rows) if valid_rows else None
    task_field = {"task": task.name} if "task" in {field.name for field in fields(chosen.config_class)} else {}
    config = config_from_params(chosen.config_class, params, train_file=str(train_file),
                                valid_file=str(valid_file) if valid_file else None, output_dir=str(directory),
                                resume=True, **task_field)
    reporter.on_log(f"{task.name}: {trainer} training{', preset ' + params['preset'] if params.get('preset') else ''}, "
                    f"{len(train_rows)} train and {len(valid_rows)} valid examples")
    return run_training(run, reporter, chosen.train, config, {"left_out": left_out} if left_out else None)


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
    if not (run.directory / RUN_CARD_NAME).is_file():
        return None
    dataset, params = run.dataset, run.params
    options = "".join(f", {key.replace('_', ' ')} {params[key]}" for key in ("preset", "train_mode") if key in params)
    notes = [f"Dataset {dataset.name} ({dataset.version}), task {dataset.task_type}, trainer "
             f"{params.get('trainer', dataset.task.default_trainer)}, backend {params.get('backend', 'local')}{options}."]
    if result.get("left_out"):
        left_out = result["left_out"]
        notes.append(f"{left_out['rows']} of {left_out['of']} train rows left out: {left_out['first_reason']}")
    if result.get("tracker_url"):
        notes.append(f"Tracker run: {result['tracker_url']}")
    path, _ = record_from_run_dir(
        run.directory, run_id=f"run{run.pk}", notes="\n\n".join(notes), eval_commands=eval_commands,
        eval_results={evaluation.params["predictor"]: evaluation.result.get("metrics", {}) for evaluation in evaluations},
    )
    return path
