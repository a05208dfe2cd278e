from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from pipeline.eval.acceptance import (
    COMPARATORS,
    DIRECTIONS,
    Criterion,
    loop_and_tracking_criteria,
    task_criteria,
)
from pipeline.tasks.registry import Task


class AcceptanceCriterion(models.Model):
    """An acceptance rule as a row (DESIGN §7): defaults are seeded, engineers edit them.

    The fields mirror pipeline.eval.acceptance.Criterion, which validates them.
    """

    key = models.SlugField(max_length=100)
    task_type = models.CharField(max_length=64, blank=True, help_text=_("the task type it judges; empty: every one"))
    metric = models.CharField(max_length=100)
    comparator = models.CharField(max_length=32, choices=[(c, c) for c in COMPARATORS])
    threshold = models.FloatField(null=True, blank=True)
    applies_to = models.CharField(max_length=64, blank=True)
    baseline = models.CharField(max_length=64, blank=True)
    direction = models.CharField(max_length=8, blank=True, choices=[(d, d) for d in DIRECTIONS])
    min_cycles = models.PositiveSmallIntegerField(default=0)
    required = models.JSONField(default=list, blank=True)
    description = models.CharField(max_length=300, blank=True)
    enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["task_type", "key"], name="one_criterion_key_per_task")]

    def __str__(self) -> str:
        return f"{self.task_type or 'all'}: {self.key}"

    def to_criterion(self) -> Criterion:
        return Criterion(
            key=self.key,
            metric=self.metric,
            comparator=self.comparator,
            threshold=self.threshold,
            applies_to=self.applies_to or None,
            baseline=self.baseline or None,
            direction=self.direction or None,
            min_cycles=self.min_cycles,
            required=tuple(self.required or ()),
            description=self.description,
        )


def seed_criteria(task: Task | None) -> None:
    """The default criterion rows of `task` (the loop and tracking ones, task_type "", when None); rows that exist,
    maybe edited, are left alone. Run on migrate, and before a verdict, for a task type registered since."""
    defaults = task_criteria(task) if task else loop_and_tracking_criteria()
    for criterion in defaults:
        AcceptanceCriterion.objects.get_or_create(
            key=criterion.key, task_type=task.name if task else "",
            defaults={"metric": criterion.metric, "comparator": criterion.comparator, "threshold": criterion.threshold,
                      "applies_to": criterion.applies_to or "", "baseline": criterion.baseline or "",
                      "direction": criterion.direction or "", "min_cycles": criterion.min_cycles,
                      "required": list(criterion.required), "description": criterion.description},
        )


class EvalExample(models.Model):
    """One example of one evaluation run: what went in, what came out, how wrong it was."""

    run = models.ForeignKey("runs.StageRun", on_delete=models.CASCADE, related_name="eval_examples")
    index = models.PositiveIntegerField()
    request_text = models.TextField()
    language = models.CharField(max_length=8, blank=True)
    # None where the gold is not an answer, e.g. a real request labelled with directions only (the eval rows keep
    # what it was labelled with, and abs_error is the task's error against that).
    target = models.JSONField(null=True, blank=True)
    raw_output = models.TextField(blank=True)
    parsed = models.JSONField(null=True, blank=True)
    valid = models.BooleanField()
    latency_ms = models.FloatField()
    abs_error = models.FloatField(help_text=_("mean absolute error over the six axes (invalid = neutral vector)"))

    class Meta:
        ordering = ["run", "index"]
        indexes = [models.Index(fields=["run", "abs_error"])]

    def __str__(self) -> str:
        return f"#{self.index} {self.request_text[:40]}"


class ABTest(models.Model):
    """Model A (an earlier evaluation, e.g. the model in service) against model B (the candidate) on one frozen set.

    `result` is the task's A/B statistics (e.g. pipeline.eval.ab_test): metric deltas B - A with
    bootstrap confidence intervals, McNemar's test, the latency change and both confusion matrices. It is
    computed once, from the two runs' EvalExample rows, when the row is created (webapp.evals.ab).
    """

    run_a = models.ForeignKey("runs.StageRun", on_delete=models.CASCADE, related_name="ab_tests_as_a")
    run_b = models.ForeignKey("runs.StageRun", on_delete=models.CASCADE, related_name="ab_tests_as_b")
    eval_set_hash = models.CharField(max_length=64)
    result = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"A/B #{self.pk}: run {self.run_a_id} vs run {self.run_b_id}"
