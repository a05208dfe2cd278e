"""Evaluate any model on any frozen set of its task, beside the baselines, through the one evaluation path
(webapp.evals.stages): the chain is evaluate x n -> verdict, like the model half of a loop's cycle."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from webapp.datasets.models import Dataset, FrozenEvalSet
from webapp.runs import services
from webapp.runs.models import StageRun
from webapp.runs.training import train_and_evaluate_steps
from webapp.serving.models import RegisteredModel


def frozen_sets(model: RegisteredModel) -> QuerySet[FrozenEvalSet]:
    """The frozen sets a model can be evaluated on: every synthetic and field set of its task, newest first."""
    return FrozenEvalSet.objects.filter(task_type=model.task_type).order_by("-pk")


def evaluations(model: RegisteredModel) -> QuerySet[StageRun]:
    """The model's own evaluations (from its training chain, a loop's cycle or its page), newest first."""
    if model.source_run_id:
        own = Q(params__model_id=model.pk) | Q(params__train_run_id=model.source_run_id)
        return StageRun.objects.filter(own, kind=StageRun.Kind.EVALUATE, params__predictor="fine_tuned").order_by("-pk")
    mode = "prompt_baseline" if model.kind == RegisteredModel.Kind.BASE else "remote"
    return StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, params__model_id=model.pk,
                                   params__predictor=mode).order_by("-pk")


def _dataset_for(model: RegisteredModel) -> Dataset:
    """The dataset an evaluation row hangs on: the model's training data, or for a remote model the newest split
    dataset of the task (its train split gives the prompt baseline its examples)."""
    if model.source_run_id:
        return model.source_run.dataset
    dataset = Dataset.objects.filter(task_type=model.task_type, stats__has_key="counts").order_by("-pk").first()
    if dataset is None:
        raise ValueError(f"evaluating a remote model needs a split {model.task_type} dataset (its examples prompt "
                         "the baseline); create one first")
    return dataset


def start_evaluation(model: RegisteredModel, eval_set: FrozenEvalSet, *, baselines: bool = True,
                     decode: str | None = None, user=None) -> list[StageRun]:
    """Queue the model (and, with `baselines`, the rule and prompt baselines) on `eval_set`, then a verdict; the
    rows, in order. A baseline already evaluated the same way on the set is reused, not recomputed."""
    if eval_set.task_type != model.task_type:
        raise ValueError(f"frozen set {eval_set.content_hash[:12]} is a {eval_set.task_type} set; model "
                         f"#{model.pk} answers {model.task_type}")
    dataset = _dataset_for(model)
    training = model.source_run.params if model.source_run_id else {"model_name": model.base_model}
    evaluation: dict[str, Any] = {"decode": decode} if decode else {}
    steps = train_and_evaluate_steps(training, evaluation)[1:]
    if not baselines or model.kind == RegisteredModel.Kind.BASE:  # a base model is a prompt baseline itself
        steps = [step for step in steps if step[0] != StageRun.Kind.EVALUATE or step[1]["predictor"] == "fine_tuned"
                 or (baselines and step[1]["predictor"] == "rule_baseline")]
    for _, params in steps:
        params |= {"eval_set_id": eval_set.pk, "model_id": model.pk}
        if model.source_run_id:
            params["train_run_id"] = model.source_run_id
        elif params.get("predictor") == "fine_tuned":  # an outside model, prompted or over the API
            mode = "prompt_baseline" if model.kind == RegisteredModel.Kind.BASE else "remote"
            params |= {"predictor": mode, "model_name": model.artifact}
    with transaction.atomic():
        rows = services.create_chain(steps, dataset=dataset, created_by=user)
    services.enqueue(rows)
    return rows
