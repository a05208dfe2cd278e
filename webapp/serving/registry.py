"""The model registry: every finished training run becomes a model, and so does every remote chat model the
deployment offers (DESIGN §3b). Registration is idempotent: a run is registered when it succeeds
(webapp.runs.lifecycle), and again harmlessly by anything that lists models."""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError, transaction

from pipeline.tasks.registry import Task
from pipeline.train.base_models import DEFAULT_BASE_MODEL
from pipeline.train.sft import sha256_file
from webapp.runs.models import StageRun
from webapp.secrets import secret
from webapp.serving.models import RegisteredModel


def model_artifact(run: StageRun) -> str | None:
    """What a training run produced: its adapter (local, HF Jobs) or the model Mistral fine-tuned; None if nothing."""
    return run.result.get("adapter_dir") or run.result.get("fine_tuned_model") or None


def register_run(run: StageRun) -> RegisteredModel | None:
    """The model of a successful training run (created the first time); None for a run that made no model."""
    if run.kind != StageRun.Kind.TRAIN or run.status != StageRun.Status.SUCCESS or not model_artifact(run):
        return None
    existing = RegisteredModel.objects.filter(source_run=run).first()
    if existing:
        return existing
    params, task = run.params, run.dataset.task
    trainer = params.get("trainer") or task.default_trainer
    base = params.get("model_name") or DEFAULT_BASE_MODEL
    train_file = run.dataset.directory / "train.jsonl"
    try:
        with transaction.atomic():
            return RegisteredModel.objects.create(
                task_type=task.name, kind=RegisteredModel.Kind.TRAINED, source_run=run,
                name=f"run #{run.pk} · {trainer} on {run.result.get('fine_tuned_model') or base}",
                base_model=base, trainer=trainer, backend=params.get("backend", "local"), artifact=model_artifact(run),
                train_data_hash=sha256_file(train_file) if train_file.is_file() else "")
    except IntegrityError:  # registered meanwhile by another writer
        return RegisteredModel.objects.get(source_run=run)


def register_remote_models(task: Task) -> list[RegisteredModel]:
    """The remote chat models this deployment offers (FTLOOP_REMOTE_MODELS, with MISTRAL_API_KEY set) as models of
    `task`."""
    if not secret("MISTRAL_API_KEY"):
        return []
    return [RegisteredModel.objects.get_or_create(
        task_type=task.name, kind=RegisteredModel.Kind.REMOTE, artifact=name,
        defaults={"name": f"remote · {name}", "base_model": name, "backend": "mistral"})[0]
        for name in settings.FTLOOP_REMOTE_MODELS]


def register_base_model(task: Task, name: str) -> RegisteredModel:
    """An outside base or hub model (a bundled name, a hub id or a directory under FTLOOP_MODELS_DIR), prompted as
    the prompt baseline is, as a model of `task`: e.g. model A of an A/B test."""
    return RegisteredModel.objects.get_or_create(
        task_type=task.name, kind=RegisteredModel.Kind.BASE, artifact=name,
        defaults={"name": f"base · {name}", "base_model": name, "backend": "local"})[0]
