from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from pipeline.data.importer import text_problem
from pipeline.tasks.registry import AnswerField, Task, task_names
from webapp.playground.inference import model_choices
from webapp.playground.models import Correction
from webapp.serving import releases

MAX_MODELS = 4


class PlaygroundForm(forms.Form):
    """A request to the models of one task type (the page's task selector names it)."""

    task = forms.ChoiceField(widget=forms.HiddenInput, required=False)  # the view reads it; absent: the default task
    text = forms.CharField(label=_("Request"), max_length=settings.FTLOOP_PLAYGROUND_MAX_CHARS,
                           widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}))
    models = forms.MultipleChoiceField(label=_("Models"), widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, task: Task, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.task = task
        self.fields["task"].choices = [(name, name) for name in task_names()]
        self.fields["task"].initial = task.name
        choices = model_choices(task)
        release = releases.in_service(task.name)
        if release:  # the model the game's API answers from: marked, and ticked by default
            label = _("in service")
            choices = [(spec, f"★ {label} · {name}" if spec == release.model.spec else name) for spec, name in choices]
            if release.model.spec not in dict(choices):
                choices.append((release.model.spec, f"★ {label} · {release.model.name}"))
            self.initial = {**self.initial, "models": ["rule_baseline", release.model.spec]}
        self.fields["models"].choices = choices
        self.fields["text"].widget.attrs["maxlength"] = settings.FTLOOP_PLAYGROUND_MAX_CHARS

    def clean_text(self) -> str:
        """The import's rule for strings (pipeline.data.importer.text_problem): no control characters, no lone
        surrogates."""
        text = self.cleaned_data["text"]
        problem = text_problem(text)
        if problem:
            raise forms.ValidationError(_("The request holds %(problem)s.") % {"problem": problem})
        return text

    def clean_models(self):
        chosen = self.cleaned_data["models"]
        if len(chosen) > MAX_MODELS:
            raise forms.ValidationError(_("Choose at most %(n)s models.") % {"n": MAX_MODELS})
        return chosen


def answer_form_field(field: AnswerField) -> forms.Field:
    """The input a designer sets one answer field with: an integer in its range, or one of its choices."""
    if field.kind == "int":
        return forms.IntegerField(label=field.key, min_value=field.low, max_value=field.high, required=False)
    return forms.ChoiceField(label=field.key, choices=[("", "—"), *((c, c) for c in field.choices)], required=False)


class CorrectionForm(forms.Form):
    """A spot-check: good or bad, and optionally the answer the prediction should have been (every answer field
    of the task set, checked by the task)."""

    model_label = forms.CharField(max_length=200)
    verdict = forms.ChoiceField(choices=Correction.Verdict.choices)
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, task: Task, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.task = task
        for field in task.answer_fields:
            self.fields[field.key] = answer_form_field(field)
        self.answer: Any = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        values = {field.key: cleaned.get(field.key) for field in self.task.answer_fields}
        if values and all(value not in (None, "") for value in values.values()):
            # One field is the answer itself (a label, a letter); several make an object (Task.display's reading).
            given = values if len(values) > 1 else next(iter(values.values()))
            try:
                self.answer = self.task.check_answer(given)
            except ValueError as error:
                raise forms.ValidationError(str(error)) from None
        return cleaned

    def corrected(self) -> Any:
        """The answer the designer set, None when they left a field unset."""
        return self.answer
