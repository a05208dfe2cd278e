from django.contrib import admin

from webapp.evals.models import ABTest, AcceptanceCriterion, EvalExample


@admin.register(AcceptanceCriterion)
class AcceptanceCriterionAdmin(admin.ModelAdmin):
    list_display = ("key", "metric", "comparator", "threshold", "applies_to", "baseline", "enabled")
    list_editable = ("threshold", "enabled")


@admin.register(EvalExample)
class EvalExampleAdmin(admin.ModelAdmin):
    list_display = ("run", "index", "valid", "abs_error", "latency_ms", "request_text")
    list_filter = ("valid",)
    search_fields = ("request_text", "raw_output")


@admin.register(ABTest)
class ABTestAdmin(admin.ModelAdmin):
    """Read-mostly: `result` is computed from the two runs when the row is created (webapp.evals.ab)."""

    list_display = ("id", "run_a", "run_b", "eval_set_hash", "created_by", "created_at")
    list_select_related = ("run_a", "run_b", "created_by")
    readonly_fields = ("run_a", "run_b", "eval_set_hash", "result", "created_by", "created_at")
    search_fields = ("eval_set_hash",)
