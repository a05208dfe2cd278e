from django.contrib import admin

from webapp.playground.models import Correction, PlaygroundRequest


@admin.register(PlaygroundRequest)
class PlaygroundRequestAdmin(admin.ModelAdmin):
    list_display = ("id", "task_type", "text", "created_by", "created_at")
    list_filter = ("task_type",)
    search_fields = ("text",)


@admin.register(Correction)
class CorrectionAdmin(admin.ModelAdmin):
    list_display = ("id", "task_type", "verdict", "model_label", "language", "used_in_dataset", "created_by",
                    "created_at")
    list_filter = ("task_type", "verdict", "language")
