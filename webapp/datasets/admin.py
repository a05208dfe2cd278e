from django.contrib import admin

from webapp.datasets.models import Dataset, DroppedExample, Example, FrozenEvalSet


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "source", "task_type", "frozen_eval_set", "created_at")
    list_filter = ("source", "task_type")
    search_fields = ("name",)


@admin.register(Example)
class ExampleAdmin(admin.ModelAdmin):
    list_display = ("id", "dataset", "split", "language", "request_text")
    list_filter = ("split", "language")
    search_fields = ("request_text",)
    list_select_related = ("dataset",)


@admin.register(DroppedExample)
class DroppedExampleAdmin(admin.ModelAdmin):
    list_display = ("id", "dataset", "reason", "detail", "request_text")
    list_filter = ("reason",)
    search_fields = ("request_text",)


@admin.register(FrozenEvalSet)
class FrozenEvalSetAdmin(admin.ModelAdmin):
    """Frozen sets are immutable: the admin shows them and nothing more."""

    list_display = ("content_hash", "size", "near_duplicates_with_train", "created_at")

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
