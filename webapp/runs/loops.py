"""Loops and their cycles: each cycle is one chain of stage rows, enqueued by id.

This module is the only writer of a Cycle's state: the verdict stage judges
(a pure function of the chain's evaluations) and hands its outcome to
`finish_cycle`, which records it and starts the next cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from webapp.datasets.models import Dataset
from webapp.datasets.services import DATA_STAGES
from webapp.runs import services
from webapp.runs.models import Cycle, Loop
from webapp.runs.training import create_train_chain, train_and_evaluate_steps


def start_loop(*, name: str, cycles: int, data: dict[str, Any], training: dict[str, Any],
               evaluation: dict[str, Any] | None = None, user=None) -> Loop:
    """`data`: task, size, seed, language, teacher; `training`: the training row's params
    (webapp.runs.training.training_params); `evaluation`: the model predictors' options (decode, few_shot_k)."""
    loop = Loop.objects.create(
        name=name, cycles=cycles, params={"data": data, "training": training, "evaluation": evaluation or {}},
        created_by=user,
    )
    start_cycle(loop, 0, [])
    return loop


def start_cycle(loop: Loop, index: int, oversample: Sequence[Mapping[str, Any]]) -> Cycle:
    """generate -> filter -> split -> freeze -> train -> evaluate x3 -> verdict, as one chain."""
    data, training = dict(loop.params["data"]), loop.params["training"]
    task = data.pop("task", None)
    evaluation = loop.params.get("evaluation", {})
    seed = data.get("seed", 0) + index
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=f"{loop.name} · cycle {index + 1}",
            params={**data, "seed": seed, "oversample": list(oversample)},
            created_by=loop.created_by,
            **({"task_type": task} if task else {}),
        )
        cycle = Cycle.objects.create(loop=loop, index=index, dataset=dataset, oversample=list(oversample))
        steps = [(kind, {}) for kind in DATA_STAGES] + train_and_evaluate_steps(training, evaluation)
        rows = create_train_chain(steps, dataset=dataset, cycle=cycle, created_by=loop.created_by)
    services.enqueue(rows)
    return cycle


def finish_cycle(cycle: Cycle, verdicts: list[dict[str, Any]], oversample: Sequence[Mapping[str, Any]]) -> Cycle | None:
    """Record a judged cycle as completed with its verdicts; start the loop's next cycle, oversampling where this
    cycle's model erred most (the task's error bands). Returns the next cycle, None after the last."""
    Cycle.objects.filter(pk=cycle.pk).update(completed=True, verdicts=verdicts)
    if cycle.index + 1 >= cycle.loop.cycles:
        return None
    return start_cycle(cycle.loop, cycle.index + 1, oversample)
