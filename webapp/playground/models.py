from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class PlaygroundRequest(models.Model):
    """One request typed in the playground and what each chosen model answered.

    The view creates the row and enqueues its id on the inference queue; the
    worker fills `results` (one entry per model: label, raw, parsed, valid, latency_ms).
    """

    text = models.TextField()
    model_specs = models.JSONField(help_text=_("model specs: rule_baseline, prompt_baseline, run:<training run id>"))
    results = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.text[:60]


class Correction(models.Model):
    """A designer's spot-check of one prediction; corrected values become training data of the next cycle."""

    class Verdict(models.TextChoices):
        GOOD = "good", _("Good")
        BAD = "bad", _("Bad")

    request = models.ForeignKey(PlaygroundRequest, on_delete=models.CASCADE, related_name="corrections")
    model_label = models.CharField(max_length=200)
    language = models.CharField(max_length=8)
    predicted = models.JSONField(null=True, blank=True)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    corrected = models.JSONField(null=True, blank=True, help_text=_("the six values the designer set"))
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
    def training_target(self) -> dict | None:
        """What a training row learns: corrected values, or the prediction a designer marked good."""
        if self.corrected:
            return self.corrected
        return self.predicted if self.verdict == self.Verdict.GOOD else None
