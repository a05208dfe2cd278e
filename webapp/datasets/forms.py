from __future__ import annotations

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

from pipeline.data.generate_teacher_pairs import LANGUAGE_CHOICES
from pipeline.data.importer import ImportFailed
from pipeline.data.teachers import teacher_names

LANGUAGE_LABELS = {"en": _("English"), "ja": _("Japanese"), "mixed": _("Mixed (half each)")}


class DataCycleForm(forms.Form):
    """Start generate -> filter -> split -> freeze."""

    size = forms.IntegerField(label=_("Pairs to generate"), min_value=10, max_value=100_000, initial=2000)
    seed = forms.IntegerField(label=_("Seed"), min_value=0, max_value=2**31 - 1, initial=0)
    language = forms.ChoiceField(
        label=_("Language"), choices=[(code, LANGUAGE_LABELS[code]) for code in LANGUAGE_CHOICES], initial="en"
    )
    teacher = forms.ChoiceField(label=_("Teacher"), choices=[(name, name) for name in teacher_names()], initial="template")
    name = forms.CharField(label=_("Name (optional)"), max_length=200, required=False)


class ImportForm(forms.Form):
    """Upload a JSONL of request_text + the six targets; every bad line is named."""

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
