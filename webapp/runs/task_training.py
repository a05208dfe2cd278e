"""Training on a text-task dataset (pipeline.tasks.registry): SFT on the task's chats, or a classification head.

The row's params are the form's hyperparameters with the chosen preset's
options on top (`training_params`): "backend" is "local" (SFT, gpu queue) or
"cls_head" (pipeline.train.cls_head, gpu queue), "preset" names the preset,
and a preset may add a train mode ("direct", "cot", "auto") and data flags
(e.g. retrieved context) that the task's `chat_messages` and `prepare_rows`
read. SFT itself always runs in its plain "sft" mode: the train mode shapes
the chat files written into the run directory, not the trainer.

Tracking, checkpoints, cancel and the experiment record are the flagship's
(webapp.runs.training.run_training). Nothing here names a task type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from django.db import transaction

from pipeline.data.jsonl import read_jsonl, write_jsonl
from pipeline.tasks.registry import TextTask, TrainingPreset, prepare_rows, render_chats
from pipeline.train import cls_head, sft
from webapp.datasets.models import Dataset
from webapp.runs import loops, services
from webapp.runs.models import StageRun
from webapp.runs.reporting import RunReporter
from webapp.runs.training import RUN_OPTIONS, run_dir, run_training

# backend -> (config class, train function); both take the same callbacks and return sft.TrainResult.
TRAINERS: dict[str, tuple[type, Callable[..., sft.TrainResult]]] = {
    "local": (sft.SFTRunConfig, sft.train),
    "cls_head": (cls_head.ClsHeadRunConfig, cls_head.train),
}
# Params that shape the data, not the trainer (SFT's own train_mode stays "sft").
DATA_OPTIONS = ("preset", "train_mode", "retrieval_context", "retrieval_top_k")
_PATHS = ("train_file", "valid_file", "output_dir", "resume", "train_mode")


def preset_of(task: TextTask, key: str) -> TrainingPreset:
    for preset in task.presets:
        if preset.key == key:
            return preset
    raise ValueError(f"{task.name} has no preset {key!r}; choose one of {', '.join(p.key for p in task.presets)}")


def training_params(task: TextTask, preset_key: str, hyperparameters: Mapping[str, Any]) -> dict[str, Any]:
    """The run's params: hyperparameters, then the preset's options (they win), its trainer as the backend."""
    options = dict(preset_of(task, preset_key).params)
    trainer = options.pop("trainer", "sft")
    return {**hyperparameters, **options, "backend": "cls_head" if trainer == "cls_head" else "local",
            "preset": preset_key}


def trainer_config(params: Mapping[str, Any], **paths: Any) -> Any:
    """The backend's config from the params it knows; a set option it does not know is a ValueError."""
    backend = params.get("backend", "local")
    if backend not in TRAINERS:
        raise ValueError(f"text tasks train on the local worker ({' or '.join(TRAINERS)}), not {backend!r}; "
                         "the remote backends train the six-parameter task")
    config_class, _ = TRAINERS[backend]
    known = {field.name for field in fields(config_class)} - set(_PATHS)
    options = {key: value for key, value in params.items() if key not in (*RUN_OPTIONS, *DATA_OPTIONS)}
    refused = sorted(key for key, value in options.items() if key not in known and value)
    if refused:
        raise ValueError(f"the {backend} trainer does not take {', '.join(refused)}")
    return config_class(**paths, **{key: value for key, value in options.items() if key in known})


def chat_files(task: TextTask, dataset: Dataset, params: Mapping[str, Any],
               directory: Path) -> tuple[dict[str, Path | None], dict[str, Any] | None]:
    """The train/valid splits as the run reads them, written into `directory`.

    SFT reads chats (`task.chat_messages` in the preset's train mode), the
    classification head the prepared rows themselves. Returns the paths (valid
    None when nothing of it is usable) and, when the train mode cannot use some
    train rows, {"rows", "of", "first_reason"}. A ValueError says when it can
    use none of them.
    """
    paths: dict[str, Path | None] = {}
    left_out = None
    for split in ("train", "valid"):
        rows = prepare_rows(task, read_jsonl(dataset.directory / f"{split}.jsonl"), params)
        if params.get("backend") == "cls_head":
            usable, refused = rows, []
        else:
            usable, refused = render_chats(task, rows, params.get("train_mode"))
        if split == "train":
            if not usable:
                raise ValueError(f"train mode {params.get('train_mode')!r} can use none of the {len(rows)} train "
                                 f"rows of dataset #{dataset.pk}: {refused[0] if refused else 'the split is empty'}")
            if refused:
                left_out = {"rows": len(refused), "of": len(rows), "first_reason": refused[0]}
        prefix = "rows" if params.get("backend") == "cls_head" else "chat"
        paths[split] = write_jsonl(directory / f"{prefix}_{split}.jsonl", usable) if usable else None
    return paths, left_out


def start_training(dataset: Dataset, params: dict[str, Any], user=None) -> StageRun:
    """Check the params against the data, then train -> evaluate x3 -> verdict as one chain; the train row."""
    trainer_config(params, train_file="-", output_dir="-")
    if params.get("backend") != "cls_head":  # refuse a train mode that none of the rows suits, now, on the form
        chats, refused = render_chats(dataset.text_task, prepare_rows(
            dataset.text_task, read_jsonl(dataset.directory / "train.jsonl"), params), params.get("train_mode"))
        if not chats:
            raise ValueError(f"train mode {params.get('train_mode')!r} can use none of the train rows of this "
                             f"dataset: {refused[0] if refused else 'the split is empty'}")
    with transaction.atomic():
        rows = services.create_chain(loops.train_and_evaluate_steps(params, {}), dataset=dataset, created_by=user)
        loops.link_train_run(rows)
    services.enqueue(rows)
    return rows[0]


def train(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Write the run's data files, then train with the backend's trainer (tracked like the flagship)."""
    dataset, params = run.dataset, run.params
    directory = run_dir(run)
    paths, left_out = chat_files(dataset.text_task, dataset, params, directory)
    if left_out:
        reporter.on_log(f"left out {left_out['rows']} of {left_out['of']} train rows that train mode "
                        f"{params.get('train_mode')!r} cannot use, e.g. {left_out['first_reason']}")
    config = trainer_config(params, train_file=str(paths["train"]),
                            valid_file=str(paths["valid"]) if paths["valid"] else None,
                            output_dir=str(directory), resume=True)
    _, trainer = TRAINERS[params.get("backend", "local")]
    reporter.on_log(f"{dataset.task_type}: training {params.get('backend', 'local')} with preset "
                    f"{params.get('preset')} on {paths['train'].name}")
    return run_training(run, reporter, trainer, config, {"left_out": left_out} if left_out else None)


def preset_choices(tasks: Sequence[TextTask]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Form choices grouped by task: value "<task>:<preset key>", label the preset's."""
    return [(task.label, [(f"{task.name}:{preset.key}", preset.label) for preset in task.presets]) for task in tasks]
