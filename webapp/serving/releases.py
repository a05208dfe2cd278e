"""Releases: promote a model to *in service* for its task type, roll back one step, and read the history.

The newest Release row of a task type is the one in service. Each release remembers the release it replaced, so
a rollback puts the replaced release's model (and export) back, and a second rollback goes one further back.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet

from webapp.evals.models import ABTest
from webapp.runs.models import StageRun
from webapp.serving.models import RegisteredModel, Release


def history(task_type: str) -> QuerySet[Release]:
    return Release.objects.filter(task_type=task_type).select_related("model", "created_by").order_by("-pk")


def in_service(task_type: str) -> Release | None:
    return history(task_type).first()


def passing_export(model: RegisteredModel) -> StageRun | None:
    """The model's newest export that passed its parity check (what the API answers from), if any."""
    return (StageRun.objects.filter(kind=StageRun.Kind.EXPORT, status=StageRun.Status.SUCCESS,
                                    params__model_id=model.pk, result__parity__passed=True)
            .order_by("-pk").first())


def promote(model: RegisteredModel, reason: str, user=None, verdict_run: StageRun | None = None,
            ab_test: ABTest | None = None) -> Release:
    """Put `model` in service for its task type; a ValueError says why not (no reason, a justification of another
    task type or model, the model already in service)."""
    if not reason.strip():
        raise ValueError("say why this model goes into service")
    if verdict_run and (verdict_run.kind != StageRun.Kind.VERDICT or verdict_run.status != StageRun.Status.SUCCESS):
        raise ValueError(f"run #{verdict_run.pk} is not a finished verdict")
    if ab_test and model.source_run_id not in (ab_test.run_b.params.get("train_run_id"),
                                               ab_test.run_a.params.get("train_run_id")):
        raise ValueError(f"A/B test #{ab_test.pk} does not test model #{model.pk}")
    with transaction.atomic():
        current = Release.objects.select_for_update().filter(task_type=model.task_type).order_by("-pk").first()
        if current and current.model_id == model.pk:
            raise ValueError(f"model #{model.pk} is already in service for {model.task_type}")
        return Release.objects.create(task_type=model.task_type, model=model, reason=reason.strip(),
                                      replaced=current, verdict_run=verdict_run, ab_test=ab_test,
                                      export_run=passing_export(model), created_by=user)


def rollback(task_type: str, reason: str, user=None) -> Release:
    """Put back the release the one in service replaced; a ValueError when there is none."""
    with transaction.atomic():
        current = Release.objects.select_for_update().filter(task_type=task_type).order_by("-pk").first()
        if current is None:
            raise ValueError(f"no model is in service for {task_type}")
        previous = current.replaced
        if previous is None:
            raise ValueError(f"release #{current.pk} replaced nothing: there is no earlier release to roll back to")
        return Release.objects.create(
            task_type=task_type, model=previous.model, action=Release.Action.ROLLBACK,
            reason=reason.strip() or f"rolled back release #{current.pk}", replaced=previous.replaced,
            verdict_run=previous.verdict_run, ab_test=previous.ab_test, export_run=previous.export_run,
            created_by=user)
