from django.contrib import admin

from webapp.runs.models import Cycle, Loop, Metric, StageRun


@admin.register(StageRun)
class StageRunAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "dataset", "progress_done", "progress_total", "created_at", "finished_at")
    list_filter = ("status", "kind")
    search_fields = ("error", "log_tail", "celery_task_id")
    readonly_fields = ("chain_id", "celery_task_id", "worker_hostname", "worker_pid", "created_at", "started_at",
                       "finished_at", "heartbeat_at", "attempts")


@admin.register(Loop)
class LoopAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "cycles", "created_at")


@admin.register(Cycle)
class CycleAdmin(admin.ModelAdmin):
    list_display = ("id", "loop", "index", "dataset", "completed")
    list_filter = ("completed",)


@admin.register(Metric)
class MetricAdmin(admin.ModelAdmin):
    list_display = ("run", "key", "step", "value", "created_at")
    list_filter = ("key",)
