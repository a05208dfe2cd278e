"""Start a loop and its cycles: each cycle is one chain of stage rows, enqueued by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from django.db import transaction

from pipeline.data.generate_teacher_pairs import Band
from webapp.datasets.models import FLAGSHIP_TASK, Dataset
from webapp.datasets.services import DATA_STAGES
from webapp.evals.stages import PREDICTORS
from webapp.runs import services
from webapp.runs.models import Cycle, Loop, StageRun

Kind = StageRun.Kind


def start_loop(*, name: str, cycles: int, data: dict[str, Any], training: dict[str, Any],
               evaluation: dict[str, Any] | None = None, user=None) -> Loop:
    """`data`: size, seed, language, teacher (or "task", a text task of the registry); `training`: SFT
    hyperparameters (a text task's: task_training.training_params); `evaluation`: decode, few_shot_k."""
    loop = Loop.objects.create(
        name=name, cycles=cycles, params={"data": data, "training": training, "evaluation": evaluation or {}},
        created_by=user,
    )
    start_cycle(loop, 0, [])
    return loop


def start_cycle(loop: Loop, index: int, oversample: Sequence[Band]) -> Cycle:
    """generate -> filter -> split -> freeze -> train -> evaluate x3 -> verdict, as one chain."""
    data, training = dict(loop.params["data"]), loop.params["training"]
    task = data.pop("task", FLAGSHIP_TASK)
    evaluation = loop.params.get("evaluation", {})
    seed = data.get("seed", 0) + index
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=f"{loop.name} · cycle {index + 1}",
            params={**data, "seed": seed, "oversample": [asdict(band) for band in oversample]},
            task_type=task,
            created_by=loop.created_by,
        )
        cycle = Cycle.objects.create(loop=loop, index=index, dataset=dataset,
                                     oversample=[asdict(band) for band in oversample])
        steps = [(kind, {}) for kind in DATA_STAGES] + train_and_evaluate_steps(training, evaluation)
        rows = services.create_chain(steps, dataset=dataset, cycle=cycle, created_by=loop.created_by)
        link_train_run(rows)
    services.enqueue(rows)
    return cycle


def train_and_evaluate_steps(training: dict[str, Any], evaluation: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """train -> evaluate (rule, prompt and fine-tuned predictors) -> verdict: the model half of a cycle."""
    steps: list[tuple[str, dict[str, Any]]] = [(Kind.TRAIN, training)]
    for predictor in PREDICTORS:
        params: dict[str, Any] = {"predictor": predictor}
        if predictor != "rule_baseline":
            params |= {"model_name": training.get("model_name"), **evaluation}
        steps.append((Kind.EVALUATE, params))
    steps.append((Kind.VERDICT, {}))
    return steps


def link_train_run(rows: Sequence[StageRun]) -> None:
    """The chain's evaluations name its training run: fine_tuned loads its adapter, and on a text task every
    predictor reads the same inputs (train mode, retrieved context) as the model they are compared with."""
    train = next(run for run in rows if run.kind == Kind.TRAIN)
    for run in rows:
        if run.kind == Kind.EVALUATE:
            run.params["train_run_id"] = train.pk
            run.save(update_fields=["params"])
