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
from typing import Any

from django.db import transaction

from pipeline.data.jsonl import read_jsonl, write_jsonl
from pipeline.tasks.registry import TextTask, TrainingPreset, prepare_rows, render_chats
from pipeline.train import cls_head, sft
from webapp.datasets.models import Dataset
from webapp.runs import loops, services
from webapp.runs.models import StageRun
from webapp.runs.reporting import RunReporter
from webapp.runs.training import config_from_params, run_dir, run_training

# backend -> (config class, train function); both take the same callbacks and return sft.TrainResult.
TRAINERS: dict[str, tuple[type, Callable[..., sft.TrainResult]]] = {
    "local": (sft.SFTRunConfig, sft.train),
    "cls_head": (cls_head.ClsHeadRunConfig, cls_head.train),
}
# Params that shape the data, not the trainer (SFT's own train_mode stays "sft").
DATA_OPTIONS = ("preset", "train_mode", "retrieval_context", "retrieval_top_k")
# Config fields this module sets itself (SFT's train_mode keeps its default, "sft").
_SET_HERE = ("train_file", "valid_file", "output_dir", "resume", "train_mode")


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
    return config_from_params(TRAINERS[backend][0], params, skip=(*DATA_OPTIONS, *_SET_HERE), **paths)


def split_rows(task: TextTask, dataset: Dataset, params: Mapping[str, Any],
               split: str) -> tuple[list[dict[str, Any]], list[str], int]:
    """(what the run trains on, why each left-out row cannot be used, how many rows the split has).

    SFT trains on chats (`task.chat_messages` in the preset's train mode), the
    classification head on the prepared rows themselves.
    """
    rows = prepare_rows(task, read_jsonl(dataset.directory / f"{split}.jsonl"), params)
    if params.get("backend") == "cls_head":
        return rows, [], len(rows)
    usable, refused = render_chats(task, rows, params.get("train_mode"))
    return usable, refused, len(rows)


def usable_train_rows(task: TextTask, dataset: Dataset,
                      params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The train split as the run reads it, and {"rows", "of", "first_reason"} when some rows had to be left
    out; a ValueError when the train mode can use none of them."""
    usable, refused, total = split_rows(task, dataset, params, "train")
    if not usable:
        raise ValueError(f"train mode {params.get('train_mode')!r} can use none of the {total} train rows of "
                         f"dataset #{dataset.pk}: {refused[0] if refused else 'the split is empty'}")
    return usable, {"rows": len(refused), "of": total, "first_reason": refused[0]} if refused else None


def start_training(dataset: Dataset, params: dict[str, Any], user=None) -> StageRun:
    """Check the params against the data (so the form can say what is wrong), then train -> evaluate x3 ->
    verdict as one chain; returns the train row."""
    trainer_config(params, train_file="-", output_dir="-")
    usable_train_rows(dataset.text_task, dataset, params)
    with transaction.atomic():
        rows = services.create_chain(loops.train_and_evaluate_steps(params, {}), dataset=dataset, created_by=user)
        loops.link_train_run(rows)
    services.enqueue(rows)
    return rows[0]


def train(run: StageRun, reporter: RunReporter) -> dict[str, Any]:
    """Write the run's data files, then train with the backend's trainer (tracked like the flagship)."""
    dataset, params, task = run.dataset, run.params, run.dataset.text_task
    directory = run_dir(run)
    prefix = "rows" if params.get("backend") == "cls_head" else "chat"
    train_rows, left_out = usable_train_rows(task, dataset, params)
    if left_out:
        reporter.on_log(f"left out {left_out['rows']} of {left_out['of']} train rows that train mode "
                        f"{params.get('train_mode')!r} cannot use, e.g. {left_out['first_reason']}")
    train_file = write_jsonl(directory / f"{prefix}_train.jsonl", train_rows)
    valid_rows, _, _ = split_rows(task, dataset, params, "valid")
    valid_file = write_jsonl(directory / f"{prefix}_valid.jsonl", valid_rows) if valid_rows else None
    config = trainer_config(params, train_file=str(train_file), valid_file=str(valid_file) if valid_file else None,
                            output_dir=str(directory), resume=True)
    _, trainer = TRAINERS[params.get("backend", "local")]
    reporter.on_log(f"{task.name}: {params.get('backend', 'local')} training, preset {params.get('preset')}, "
                    f"{len(train_rows)} train and {len(valid_rows)} valid examples")
    return run_training(run, reporter, trainer, config, {"left_out": left_out} if left_out else None)


def preset_choices(tasks: Sequence[TextTask]) -> list[tuple[str, list[tuple[str, str]]]]:
    """Form choices grouped by task: value "<task>:<preset key>", label the preset's."""
    return [(task.label, [(f"{task.name}:{preset.key}", preset.label) for preset in task.presets]) for task in tasks]
