from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from pipeline.eval.metrics import loop_completion_rate


class StageRun(models.Model):
    """One execution of one stage of the loop (generate, filter, split, freeze, ...).

    Lifecycle::

        PENDING --(a worker picks it up)--> STARTED --> SUCCESS
           |                                        \\-> FAILURE  (exception, or worker died: reconcile)
           \\-> FAILURE (send refused)               \\-> REVOKED  (cancelled, or skipped after an upstream failure)
        STARTED --(local training's worker died, reconcile resumes it)--> PENDING
        FAILURE / REVOKED --(re-queue)--> PENDING

    Rows created together (one cycle's stages) share `chain_id` and run in
    `sequence` order; a failure or cancel marks the later PENDING rows REVOKED.
    Status is written only by workers.base.StageTask, webapp.runs.services
    (enqueue, cancel, re-queue) and webapp.runs.reconcile: never in a task body.
    `sent_at` and `celery_task_id` record the last message sent for the row, so
    reconcile can tell a PENDING run waiting in a queue from one whose message was lost.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", _("Pending")
        STARTED = "STARTED", _("Running")
        SUCCESS = "SUCCESS", _("Succeeded")
        FAILURE = "FAILURE", _("Failed")
        REVOKED = "REVOKED", _("Cancelled")

    class Kind(models.TextChoices):
        GENERATE = "generate", _("Generate")
        FILTER = "filter", _("Filter")
        SPLIT = "split", _("Split")
        FREEZE = "freeze", _("Freeze")
        TRAIN = "train", _("Train")
        EVALUATE = "evaluate", _("Evaluate")
        VERDICT = "verdict", _("Verdict")
        EXPORT = "export", _("Export")

    FINISHED = (Status.SUCCESS, Status.FAILURE, Status.REVOKED)

    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    chain_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    sequence = models.PositiveSmallIntegerField(default=0)
    dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    cycle = models.ForeignKey("runs.Cycle", null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)

    params = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    cancel_requested = models.BooleanField(default=False)

    celery_task_id = models.CharField(max_length=64, blank=True)
    worker_hostname = models.CharField(max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    resumes = models.PositiveSmallIntegerField(default=0, help_text="automatic resumes after its worker died")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-sequence"]
        indexes = [models.Index(fields=["chain_id", "sequence"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_active(self) -> bool:
        return not self.is_finished

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.SUCCESS:
            return 100
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def duration_s(self) -> float | None:
        if not self.started_at:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

    @property
    def directory(self) -> Path:
        """Where the run writes its files (checkpoints, adapter, run card, eval summary)."""
        return Path(settings.DATA_DIR) / "runs" / str(self.pk)

    def later_in_chain(self) -> models.QuerySet[StageRun]:
        return StageRun.objects.filter(chain_id=self.chain_id, sequence__gt=self.sequence)


class Loop(models.Model):
    """N cycles of generate -> filter -> split -> freeze -> train -> evaluate -> verdict.

    Cycle k+1 is created by cycle k's verdict stage, oversampling the axis bands
    where cycle k's fine-tuned model erred most.
    """

    name = models.CharField(max_length=200)
    cycles = models.PositiveSmallIntegerField(default=2)
    params = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} (#{self.pk})"

    @property
    def started_cycles(self) -> int:
        return self.cycle_set.count()

    @property
    def completed_cycles(self) -> int:
        return self.cycle_set.filter(completed=True).count()

    @property
    def completion_rate(self) -> float | None:
        return loop_completion_rate(self.completed_cycles, self.started_cycles)

    @property
    def is_active(self) -> bool:
        return StageRun.objects.filter(cycle__loop=self, status__in=(StageRun.Status.PENDING, StageRun.Status.STARTED)).exists()


class Cycle(models.Model):
    loop = models.ForeignKey(Loop, on_delete=models.CASCADE)
    index = models.PositiveSmallIntegerField()
    dataset = models.ForeignKey("datasets.Dataset", null=True, blank=True, on_delete=models.SET_NULL)
    oversample = models.JSONField(default=list, blank=True)
    yardsticks = models.ManyToManyField("datasets.FrozenEvalSet", blank=True, related_name="cycles",
                                        help_text=_("the frozen sets every predictor of this cycle is evaluated on"))
    verdicts = models.JSONField(default=list, blank=True)
    completed = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["loop", "index"]
        constraints = [models.UniqueConstraint(fields=["loop", "index"], name="one_cycle_per_index")]

    def __str__(self) -> str:
        return f"{self.loop.name} · cycle {self.index + 1}"


class Metric(models.Model):
    """One value of one metric at one step of one run (long format, as MLflow stores it).

    Charts read these through a JSON endpoint; `train/loss` and `eval/loss` come from training.
    """

    run = models.ForeignKey(StageRun, on_delete=models.CASCADE, related_name="metrics")
    key = models.CharField(max_length=100)
    step = models.IntegerField(default=0)
    value = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "key", "step"]
        indexes = [models.Index(fields=["run", "key", "step"])]

    def __str__(self) -> str:
        return f"{self.key}@{self.step}={self.value:.4g}"
