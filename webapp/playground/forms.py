from __future__ import annotations

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from pipeline.data.importer import text_problem
from pipeline.tasks.hidden_params import AXES
from webapp.playground.inference import model_choices
from webapp.playground.models import Correction

MAX_MODELS = 4


class PlaygroundForm(forms.Form):
    text = forms.CharField(label=_("Request"), max_length=settings.FTLOOP_PLAYGROUND_MAX_CHARS,
                           widget=forms.Textarea(attrs={"rows": 3, "autofocus": True}))
    models = forms.MultipleChoiceField(label=_("Models"), widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["models"].choices = model_choices()
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


class CorrectionForm(forms.Form):
    """A spot-check: good or bad, and optionally the six values the prediction should have been."""

    model_label = forms.CharField(max_length=200)
    verdict = forms.ChoiceField(choices=Correction.Verdict.choices)
    note = forms.CharField(max_length=300, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for axis in AXES:
            self.fields[axis] = forms.IntegerField(min_value=0, max_value=100, required=False)

    def corrected(self) -> dict[str, int] | None:
        values = {axis: self.cleaned_data.get(axis) for axis in AXES}
        return values if all(v is not None for v in values.values()) else None
