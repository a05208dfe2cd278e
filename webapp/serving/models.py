"""The model registry, releases and API tokens (DESIGN §3b).

A *model* is a finished training run of any backend (registered when the run succeeds) or a remote chat model
the deployment offers. A *release* puts a model in service for its task type; the newest release of a task type
is the one in service, and each release remembers the one it replaced, so a rollback is one step back. An *API
token* lets a game client call the prediction API; only its SHA-256 is stored.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pipeline.tasks.registry import Task, get_task


class RegisteredModel(models.Model):
    class Kind(models.TextChoices):
        TRAINED = "trained", _("Trained")
        REMOTE = "remote", _("Remote")
        BASE = "base", _("Outside base or hub model")  # prompted as the prompt baseline is

    task_type = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TRAINED)
    name = models.CharField(max_length=200)
    base_model = models.CharField(max_length=300, blank=True)
    trainer = models.CharField(max_length=32, blank=True)
    backend = models.CharField(max_length=32, blank=True)
    artifact = models.CharField(max_length=500, help_text=_("adapter directory, or the remote model's id"))
    train_data_hash = models.CharField(max_length=64, blank=True)
    source_run = models.OneToOneField("runs.StageRun", null=True, blank=True, on_delete=models.CASCADE,
                                      related_name="registered_model")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [models.UniqueConstraint(fields=["task_type", "kind", "artifact"],
                                               name="one_model_per_artifact")]

    def __str__(self) -> str:
        return f"model #{self.pk} · {self.name}"

    @property
    def task(self) -> Task:
        return get_task(self.task_type)

    @property
    def spec(self) -> str:
        """How the playground and the API name its predictor (webapp.playground.inference)."""
        if self.source_run_id:
            return f"run:{self.source_run_id}"
        return f"{'base' if self.kind == self.Kind.BASE else 'remote'}:{self.artifact}"


class Release(models.Model):
    """One promotion (or rollback) of a model to *in service* for its task type; the newest row is in service."""

    class Action(models.TextChoices):
        PROMOTE = "promote", _("Promoted")
        ROLLBACK = "rollback", _("Rolled back")

    task_type = models.CharField(max_length=64, db_index=True)
    model = models.ForeignKey(RegisteredModel, on_delete=models.PROTECT, related_name="releases")
    action = models.CharField(max_length=16, choices=Action.choices, default=Action.PROMOTE)
    reason = models.TextField()
    replaced = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 help_text=_("the release this one took over from (a rollback goes back to it)"))
    verdict_run = models.ForeignKey("runs.StageRun", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")
    ab_test = models.ForeignKey("evals.ABTest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    export_run = models.ForeignKey("runs.StageRun", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text=_("the export the API answers from"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.task_type}: {self.get_action_display()} model #{self.model_id}"


def hash_token(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A game client's key to the prediction API: shown once when created, stored as its SHA-256."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text=_("the first characters, to tell tokens apart"))
    key_hash = models.CharField(max_length=64, unique=True)
    rate_per_minute = models.PositiveIntegerField(default=settings.FTLOOP_API_RATE_PER_MINUTE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])
