from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from pipeline.data.generate_teacher_pairs import LANGUAGE_CHOICES
from pipeline.data.importer import ImportFailed
from pipeline.data.teachers import teacher_names
from pipeline.tasks.registry import get_task, task_names
from webapp import bounds
from webapp.datasets.models import FLAGSHIP_TASK

LANGUAGE_LABELS = {"en": _("English"), "ja": _("Japanese"), "mixed": _("Mixed (half each)")}


def task_choices() -> list[tuple[str, str]]:
    """The flagship, then every task type of the registry, as form choices."""
    return [(FLAGSHIP_TASK, _("Music request → six hidden parameters")),
            *((name, get_task(name).label) for name in task_names())]


def task_field() -> forms.ChoiceField:
    """Optional, so that forms posted without it keep meaning the flagship."""
    return forms.ChoiceField(label=_("Task type"), choices=task_choices(), initial=FLAGSHIP_TASK, required=False)


def demo_language_error(task: str, language: str, seed: int) -> str | None:
    """Why a text task cannot write demo rows in `language` (its own message), None when it can or is the flagship."""
    if task == FLAGSHIP_TASK:
        return None
    try:
        get_task(task).demo_rows(1, seed, language)
    except ValueError as exc:
        return str(exc)
    return None


class TaskFormMixin:
    """A form with `task_field()` named "task": an empty choice is the flagship."""

    def clean_task(self) -> str:
        return self.cleaned_data.get("task") or FLAGSHIP_TASK


class DataCycleForm(TaskFormMixin, forms.Form):
    """Start generate -> filter -> split -> freeze; text task types write their offline demo rows."""

    task = task_field()
    size = forms.IntegerField(label=_("Pairs to generate"), initial=2000, **bounds.DATASET_SIZE)
    seed = forms.IntegerField(label=_("Seed"), initial=0, **bounds.SEED)
    language = forms.ChoiceField(
        label=_("Language"), choices=[(code, LANGUAGE_LABELS[code]) for code in LANGUAGE_CHOICES], initial="en"
    )
    teacher = forms.ChoiceField(label=_("Teacher"), choices=[(name, name) for name in teacher_names()], initial="template",
                                help_text=_("Six-parameter task only; the other task types write offline demo rows."))
    teacher_budget_usd = forms.FloatField(
        label=_("Teacher budget (USD)"), required=False, **bounds.TEACHER_BUDGET_USD,
        help_text=_("API teachers (mistral) stop cleanly when this run has spent it; empty: FTLOOP_TEACHER_BUDGET_USD or no limit."),
    )
    name = forms.CharField(label=_("Name (optional)"), max_length=200, required=False)

    def clean(self) -> dict:
        data = super().clean()
        problem = demo_language_error(data.get("task", FLAGSHIP_TASK), data.get("language", ""), data.get("seed") or 0)
        if problem and "language" in data:
            self.add_error("language", problem)
        return data


class ImportForm(TaskFormMixin, forms.Form):
    """Upload a JSONL of the chosen task type's rows; every bad line is named."""

    task = task_field()
    name = forms.CharField(label=_("Name"), max_length=200)
    file = forms.FileField(label=_("JSONL file"))

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.FTLOOP_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s; the limit is %(limit)s.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}
            )
        return upload


def import_error_messages(exc: ImportFailed) -> list[str]:
    messages = [
        _("Line %(number)s: %(problem)s") % {"number": n, "problem": p} if n else p for n, p in exc.errors
    ]
    if exc.truncated:
        messages.append(_("More errors were not shown."))
    messages.append(_("Nothing was imported."))
    return messages
