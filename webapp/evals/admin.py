from django.contrib import admin

from webapp.evals.models import AcceptanceCriterion, EvalExample


@admin.register(AcceptanceCriterion)
class AcceptanceCriterionAdmin(admin.ModelAdmin):
    list_display = ("key", "metric", "comparator", "threshold", "applies_to", "baseline", "enabled")
    list_editable = ("threshold", "enabled")


@admin.register(EvalExample)
class EvalExampleAdmin(admin.ModelAdmin):
    list_display = ("run", "index", "valid", "abs_error", "latency_ms", "request_text")
    list_filter = ("valid",)
    search_fields = ("request_text", "raw_output")
