"""Loops and their cycles: each cycle is one chain of stage rows, enqueued by id.

A loop closes (DESIGN §2): its yardsticks are fixed, so cycles compare like with like. Cycle 1 freezes the
loop's synthetic eval set (or the loop evaluates on sets picked on the form); every later cycle is evaluated
on that same set, and every cycle also on the task's field set of real requests (its newest version when the
cycle starts). Data accumulates: cycle k+1's dataset is cycle k's (its parent) plus rows generated where cycle
k's model erred most plus new labelled requests, so no later cycle freezes a test split of its own.

This module is the only writer of a Cycle's state: the verdict stage judges (a pure function of the chain's
evaluations) and hands its outcome to `finish_cycle`, which records it and starts the next cycle.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from pipeline.tasks.registry import DEFAULT_TASK, PREDICTORS, get_task
from webapp.datasets import field
from webapp.datasets.models import Dataset, FrozenEvalSet
from webapp.datasets.services import DATA_STAGES
from webapp.runs import services
from webapp.runs.models import Cycle, Loop, StageRun
from webapp.runs.training import create_train_chain

Kind = StageRun.Kind
# Rows a later cycle generates, as a share of the first cycle's size (they join the rows it inherits).
DEFAULT_GROWTH = 0.5


def start_loop(*, name: str, cycles: int, data: dict[str, Any], training: dict[str, Any],
               evaluation: dict[str, Any] | None = None, yardsticks: Sequence[int] = (),
               cycle_training: Mapping[str, Mapping[str, Any]] | None = None, user=None) -> Loop:
    """`data`: task, size, seed, language, teacher (and growth: the share of `size` each later cycle adds);
    `training`: the training row's params (webapp.runs.training.training_params), with `cycle_training`
    overrides per cycle number ("2": {...}); `evaluation`: the model predictors' options (decode, few_shot_k);
    `yardsticks`: frozen sets of the task to evaluate every cycle on instead of freezing a synthetic one."""
    loop = Loop.objects.create(
        name=name, cycles=cycles, created_by=user,
        params={"data": data, "training": training, "evaluation": evaluation or {}, "yardsticks": list(yardsticks),
                "cycle_training": dict(cycle_training or {})},
    )
    start_cycle(loop, 0, [])
    return loop


def synthetic_yardsticks(loop: Loop) -> list[FrozenEvalSet]:
    """The loop's fixed synthetic sets: those picked on the form, else the set cycle 1 froze (none before it has)."""
    picked = loop.params.get("yardsticks") or []
    if picked:
        return list(FrozenEvalSet.objects.filter(pk__in=picked))
    first = loop.cycle_set.filter(index=0).select_related("dataset__frozen_eval_set").first()
    return [first.dataset.frozen_eval_set] if first and first.dataset and first.dataset.frozen_eval_set else []


def evaluation_steps(evaluation: Mapping[str, Any], model_name: str | None, eval_sets: Sequence[FrozenEvalSet | None],
                     few_shot_dataset: Dataset) -> list[tuple[str, dict[str, Any]]]:
    """Every predictor on every yardstick (None: the cycle's own frozen test split), then the verdict."""
    steps: list[tuple[str, dict[str, Any]]] = []
    for eval_set in eval_sets:
        for predictor in PREDICTORS:
            params: dict[str, Any] = {"predictor": predictor, "few_shot_dataset_id": few_shot_dataset.pk}
            if eval_set is not None:
                params["eval_set_id"] = eval_set.pk
            if predictor != "rule_baseline":
                params |= {"model_name": model_name, **evaluation}
            steps.append((Kind.EVALUATE, params))
    steps.append((Kind.VERDICT, {}))
    return steps


def start_cycle(loop: Loop, index: int, oversample: Sequence[Mapping[str, Any]]) -> Cycle:
    """Cycle 1: generate -> filter -> split -> freeze; later cycles: generate (the parent's rows plus new ones)
    -> filter -> split; then train -> evaluate (every predictor on every yardstick) -> verdict, as one chain."""
    data = dict(loop.params["data"])
    task = get_task(data.pop("task", None) or DEFAULT_TASK)
    growth = float(data.pop("growth", DEFAULT_GROWTH))
    training = {**loop.params["training"], **loop.params.get("cycle_training", {}).get(str(index + 1), {})}
    previous = loop.cycle_set.filter(index=index - 1).select_related("dataset").first() if index else None
    parent = previous.dataset if previous else None
    params = {**data, "seed": data.get("seed", 0) + index, "oversample": list(oversample)}
    if parent:
        params["size"] = max(1, round(data["size"] * growth))
    synthetic = synthetic_yardsticks(loop)
    field_set = field.field_set(task)
    with transaction.atomic():
        dataset = Dataset.objects.create(name=f"{loop.name} · cycle {index + 1}", params=params, task_type=task.name,
                                         parent=parent, created_by=loop.created_by)
        cycle = Cycle.objects.create(loop=loop, index=index, dataset=dataset, oversample=list(oversample))
        known = [*synthetic, *([field_set] if field_set else [])]
        cycle.yardsticks.set(known)
        eval_sets: list[FrozenEvalSet | None] = list(known) if synthetic else [None, *known]
        first_dataset = loop.cycle_set.get(index=0).dataset if index else dataset
        data_stages = DATA_STAGES if index == 0 else DATA_STAGES[:-1]  # only cycle 1 freezes a test split
        steps = [(kind, {}) for kind in data_stages] + [(Kind.TRAIN, training)] + evaluation_steps(
            loop.params.get("evaluation", {}), training.get("model_name"), eval_sets, first_dataset)
        rows = create_train_chain(steps, dataset=dataset, cycle=cycle, created_by=loop.created_by)
    services.enqueue(rows)
    return cycle


def finish_cycle(cycle: Cycle, verdicts: list[dict[str, Any]], oversample: Sequence[Mapping[str, Any]],
                 eval_sets: Sequence[FrozenEvalSet]) -> Cycle | None:
    """Record a judged cycle: completed, its verdicts and the sets it was evaluated on; start the loop's next cycle,
    oversampling where this cycle's model erred most (the task's error bands). Returns the next cycle, None after
    the last."""
    Cycle.objects.filter(pk=cycle.pk).update(completed=True, verdicts=verdicts)
    cycle.yardsticks.add(*eval_sets)
    if cycle.index + 1 >= cycle.loop.cycles:
        return None
    return start_cycle(cycle.loop, cycle.index + 1, oversample)


def yardstick_table(loop: Loop) -> list[dict[str, Any]]:
    """Per yardstick and predictor, each cycle's headline metric (and directional accuracy where the task has it):
    {"yardstick": FrozenEvalSet, "predictor", "metric", "values": [per cycle, None where not evaluated],
    "change": last - first}. Only evaluations on the same set (by hash) share a row."""
    cycles = list(loop.cycle_set.order_by("index"))
    task = get_task(cycles[0].dataset.task_type) if cycles and cycles[0].dataset else get_task(DEFAULT_TASK)
    metrics = [task.headline_metric, *(key for key in ("directional_accuracy",) if key in task.higher_is_better)]
    evaluations = StageRun.objects.filter(cycle__loop=loop, kind=Kind.EVALUATE, status=StageRun.Status.SUCCESS)
    by_key: dict[tuple[str, str], dict[int, dict[str, Any]]] = {}
    for run in evaluations.select_related("cycle"):
        content_hash = run.result["provenance"]["eval_set_hash"]
        by_key.setdefault((content_hash, run.params["predictor"]), {})[run.cycle.index] = run.result["metrics"]
    sets = {frozen.content_hash: frozen for frozen in FrozenEvalSet.objects.filter(
        content_hash__in={content_hash for content_hash, _ in by_key})}
    rows = []
    for (content_hash, predictor), per_cycle in sorted(by_key.items(), key=lambda item: (
            sets[item[0][0]].kind if item[0][0] in sets else "", item[0][0], PREDICTORS.index(item[0][1])
            if item[0][1] in PREDICTORS else 9)):
        for metric in metrics:
            values = [per_cycle.get(cycle.index, {}).get(metric) for cycle in cycles]
            if all(value is None for value in values):
                continue
            present = [value for value in values if value is not None]
            rows.append({"yardstick": sets.get(content_hash), "hash": content_hash, "predictor": predictor,
                         "metric": metric, "higher_is_better": task.higher_is_better.get(metric, True),
                         "values": values, "change": present[-1] - present[0] if len(present) > 1 else None})
    return rows
