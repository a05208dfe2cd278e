"""Start a loop and its cycles: each cycle is one chain of stage rows, enqueued by id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from django.db import transaction

from pipeline.data.generate_teacher_pairs import Band
from webapp.datasets.models import Dataset
from webapp.datasets.services import DATA_STAGES
from webapp.evals.stages import PREDICTORS
from webapp.runs import services
from webapp.runs.models import Cycle, Loop, StageRun

Kind = StageRun.Kind


def start_loop(*, name: str, cycles: int, data: dict[str, Any], training: dict[str, Any],
               evaluation: dict[str, Any] | None = None, user=None) -> Loop:
    """`data`: size, seed, language, teacher; `training`: SFT hyperparameters; `evaluation`: decode, few_shot_k."""
    loop = Loop.objects.create(
        name=name, cycles=cycles, params={"data": data, "training": training, "evaluation": evaluation or {}},
        created_by=user,
    )
    start_cycle(loop, 0, [])
    return loop


def start_cycle(loop: Loop, index: int, oversample: Sequence[Band]) -> Cycle:
    """generate -> filter -> split -> freeze -> train -> evaluate x3 -> verdict, as one chain."""
    data, training = loop.params["data"], loop.params["training"]
    evaluation = loop.params.get("evaluation", {})
    seed = data.get("seed", 0) + index
    with transaction.atomic():
        dataset = Dataset.objects.create(
            name=f"{loop.name} · cycle {index + 1}",
            params={**data, "seed": seed, "oversample": [asdict(band) for band in oversample]},
            created_by=loop.created_by,
        )
        cycle = Cycle.objects.create(loop=loop, index=index, dataset=dataset,
                                     oversample=[asdict(band) for band in oversample])
        steps: list[tuple[str, dict[str, Any]]] = [(kind, {}) for kind in DATA_STAGES]
        steps.append((Kind.TRAIN, training))
        for predictor in PREDICTORS:
            params: dict[str, Any] = {"predictor": predictor}
            if predictor != "rule_baseline":
                params |= {"model_name": training.get("model_name"), **evaluation}
            steps.append((Kind.EVALUATE, params))
        steps.append((Kind.VERDICT, {}))
        rows = services.create_chain(steps, dataset=dataset, cycle=cycle, created_by=loop.created_by)
        train = next(run for run in rows if run.kind == Kind.TRAIN)
        fine_tuned = next(run for run in rows if run.params.get("predictor") == "fine_tuned")
        fine_tuned.params["train_run_id"] = train.pk
        fine_tuned.save(update_fields=["params"])
    services.enqueue(rows)
    return cycle
