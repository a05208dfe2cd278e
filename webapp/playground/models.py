from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from pipeline.tasks.registry import DEFAULT_TASK, Task, get_task


class PlaygroundRequest(models.Model):
    """One request typed in the playground for one task type, and what each chosen model answered.

    The view creates the row and enqueues its id on the inference queue; the
    worker fills `results` (one entry per model: spec, label, raw, parsed,
    display, valid, latency_ms, tokens_decoded, or an error of that model).
    """

    task_type = models.CharField(max_length=64, default=DEFAULT_TASK)
    text = models.TextField()
    model_specs = models.JSONField(help_text=_("model specs: rule_baseline, prompt_baseline, run:<training run id>, "
                                               "remote:<model>"))
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def task(self) -> Task:
        return get_task(self.task_type)


class Correction(models.Model):
    """A designer's spot-check of one prediction; corrected answers become training data of the task's next cycle."""

    class Verdict(models.TextChoices):
        GOOD = "good", _("Good")
        BAD = "bad", _("Bad")

    task_type = models.CharField(max_length=64, default=DEFAULT_TASK, db_index=True)
    request = models.ForeignKey(PlaygroundRequest, on_delete=models.CASCADE, related_name="corrections")
    model_label = models.CharField(max_length=200)
    language = models.CharField(max_length=8)
    predicted = models.JSONField(null=True, blank=True, help_text=_("the answer the model gave (parsed)"))
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    corrected = models.JSONField(null=True, blank=True, help_text=_("the answer the designer set"))
    note = models.CharField(max_length=300, blank=True)
    used_in_dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="corrections_used")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.verdict}: {self.request.text[:40]}"

    @property
    def task(self) -> Task:
        return get_task(self.task_type)

    @property
    def training_answer(self) -> Any:
        """What a training row learns: the corrected answer, or the prediction a designer marked good."""
        if self.corrected is not None:
            return self.corrected
        return self.predicted if self.verdict == self.Verdict.GOOD else None
