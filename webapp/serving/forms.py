from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from pipeline.tasks.registry import all_tasks
from webapp.datasets.models import FrozenEvalSet
from webapp.evals.models import ABTest
from webapp.runs.forms import loadable_model
from webapp.runs.models import StageRun
from webapp.serving import evaluation, exports
from webapp.serving.models import RegisteredModel


class EvaluateForm(forms.Form):
    """A frozen set of the model's task (synthetic or field), with or without the baselines."""

    eval_set = forms.ModelChoiceField(label=_("Frozen set"), queryset=FrozenEvalSet.objects.none())
    baselines = forms.BooleanField(label=_("with the rule and prompt baselines"), required=False, initial=True)

    def __init__(self, model: RegisteredModel, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["eval_set"].queryset = evaluation.frozen_sets(model)
        self.fields["eval_set"].label_from_instance = lambda frozen: f"{frozen.get_kind_display()} · {frozen}"


class ExportForm(forms.Form):
    format = forms.ChoiceField(label=_("Format"))

    def __init__(self, model: RegisteredModel, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = [(fmt, exports.FORMATS[fmt]) for fmt in exports.formats_for(model)]


class PromoteForm(forms.Form):
    """Why the model goes into service, and the verdict or A/B test that says so."""

    reason = forms.CharField(label=_("Why"), max_length=1000, widget=forms.Textarea(attrs={"rows": 2}))
    verdict_run = forms.ModelChoiceField(label=_("Verdict"), required=False, queryset=StageRun.objects.none())
    ab_test = forms.ModelChoiceField(label=_("A/B test"), required=False, queryset=ABTest.objects.none())

    def __init__(self, model: RegisteredModel, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        chains = evaluation.evaluations(model).values_list("chain_id", flat=True)
        self.fields["verdict_run"].queryset = StageRun.objects.filter(
            kind=StageRun.Kind.VERDICT, status=StageRun.Status.SUCCESS, chain_id__in=list(chains)).order_by("-pk")
        self.fields["verdict_run"].label_from_instance = lambda run: (
            f"#{run.pk} · {_('passed') if run.result.get('passed') else _('not passed')}")
        if model.source_run_id:
            self.fields["ab_test"].queryset = ABTest.objects.filter(
                run_b__params__train_run_id=model.source_run_id).order_by("-pk")


class BaseModelForm(forms.Form):
    """An outside base or hub model, to evaluate and A/B test like ftloop's own (prompted as the prompt baseline)."""

    task = forms.ChoiceField(label=_("Task"))
    model_name = forms.CharField(label=_("Base or hub model"), max_length=300, validators=[loadable_model],
                                 help_text=_("a bundled name, a hub id (owner/name) or a directory under "
                                             "FTLOOP_MODELS_DIR"))

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].choices = [(task.name, task.label) for task in all_tasks()]


class TokenForm(forms.Form):
    name = forms.CharField(label=_("Client"), max_length=100, help_text=_("e.g. the game build that calls the API"))
    rate_per_minute = forms.IntegerField(label=_("Requests per minute"), min_value=1, max_value=100_000,
                                         required=False)
