from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from pipeline.data.importer import ImportFailed
from pipeline.tasks.registry import DEFAULT_TASK, all_tasks, get_task, task_names
from webapp import bounds

LANGUAGE_LABELS = {"en": _("English"), "ja": _("Japanese"), "mixed": _("Mixed (half each)")}


def task_choices() -> list[tuple[str, str]]:
    """Every task type of the registry, as form choices."""
    return [(name, get_task(name).label) for name in task_names()]


def task_field() -> forms.ChoiceField:
    """Optional, so that forms posted without it keep meaning the default task."""
    return forms.ChoiceField(label=_("Task type"), choices=task_choices, initial=DEFAULT_TASK, required=False)


def language_choices() -> list[tuple[str, str]]:
    """Every language some task writes, and "mixed"; each task refuses the ones it cannot write."""
    codes = dict.fromkeys(code for task in all_tasks() for code in task.generation_languages())
    return [(code, LANGUAGE_LABELS.get(code, code)) for code in sorted(codes, key=lambda code: code == "mixed")]


def teacher_choices() -> list[tuple[str, str]]:
    """"" (the task's own first teacher), then every teacher some task has."""
    names = dict.fromkeys(name for task in all_tasks() for name in task.teachers)
    return [("", _("the task's default")), *((name, name) for name in names)]


def generation_errors(task: str, teacher: str, language: str) -> list[tuple[str, str]]:
    """(field, why) for each reason the task cannot write rows with `teacher` in `language`."""
    chosen = get_task(task)
    errors = []
    if teacher and teacher not in chosen.teachers:
        errors.append(("teacher", _("%(task)s is written by %(teachers)s, not %(teacher)s.") % {
            "task": chosen.name, "teachers": ", ".join(chosen.teachers), "teacher": teacher}))
    if language not in chosen.generation_languages():
        errors.append(("language", _("unknown language %(language)r for %(task)s; choose from %(languages)s") % {
            "language": language, "task": chosen.name, "languages": ", ".join(chosen.generation_languages())}))
    return errors


class TaskFormMixin:
    """A form with `task_field()` named "task": an empty choice is the default task."""

    def clean_task(self) -> str:
        return self.cleaned_data.get("task") or DEFAULT_TASK


class DataCycleForm(TaskFormMixin, forms.Form):
    """Start generate -> filter -> split -> freeze with one of the task's teachers (or its offline demo rows)."""

    task = task_field()
    size = forms.IntegerField(label=_("Rows to generate"), initial=2000, **bounds.DATASET_SIZE)
    seed = forms.IntegerField(label=_("Seed"), initial=0, **bounds.SEED)
    language = forms.ChoiceField(label=_("Language"), choices=language_choices, initial="en")
    teacher = forms.ChoiceField(label=_("Teacher"), choices=teacher_choices, initial="", required=False,
                                help_text=_("Who writes the rows; each task type lists its own."))
    teacher_budget_usd = forms.FloatField(
        label=_("Teacher budget (USD)"), required=False, **bounds.TEACHER_BUDGET_USD,
        help_text=_("API teachers (mistral) stop cleanly when this run has spent it; empty: FTLOOP_TEACHER_BUDGET_USD or no limit."),
    )
    name = forms.CharField(label=_("Name (optional)"), max_length=200, required=False)

    def clean(self) -> dict:
        data = super().clean()
        if "language" in data and "teacher" in data:
            for field, problem in generation_errors(data.get("task") or DEFAULT_TASK, data["teacher"],
                                                    data["language"]):
                self.add_error(field, problem)
        return data


class UploadLimitMixin:
    """A form whose "file" may not exceed FTLOOP_MAX_UPLOAD_BYTES."""

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.FTLOOP_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s; the limit is %(limit)s.")
                % {"size": filesizeformat(upload.size), "limit": filesizeformat(limit)}
            )
        return upload


class ImportForm(UploadLimitMixin, TaskFormMixin, forms.Form):
    """Upload a JSONL of the chosen task type's rows; every bad line is named."""

    task = task_field()
    name = forms.CharField(label=_("Name"), max_length=200)
    file = forms.FileField(label=_("JSONL file"))


class LabelledImportForm(UploadLimitMixin, TaskFormMixin, forms.Form):
    """Upload labelled real requests (a JSONL of the task's rows): each goes to training or to the field set."""

    task = task_field()
    file = forms.FileField(label=_("JSONL file"))


def import_error_messages(exc: ImportFailed) -> list[str]:
    messages = [
        _("Line %(number)s: %(problem)s") % {"number": n, "problem": p} if n else p for n, p in exc.errors
    ]
    if exc.truncated:
        messages.append(_("More errors were not shown."))
    messages.append(_("Nothing was imported."))
    return messages
