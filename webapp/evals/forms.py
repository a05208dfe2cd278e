from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from webapp.evals.ab import candidate_runs, eval_set_hash, run_name
from webapp.evals.imports import ImportRefused, parse_files
from webapp.evals.models import AcceptanceCriterion
from webapp.runs.models import StageRun


class CriterionForm(forms.ModelForm):
    """What engineers may change of a criterion; pipeline's Criterion validates the whole row."""

    class Meta:
        model = AcceptanceCriterion
        fields = ["threshold", "min_cycles", "enabled", "description"]

    def clean(self):
        cleaned = super().clean()
        candidate = AcceptanceCriterion(**{**{f.name: getattr(self.instance, f.name) for f in self.instance._meta.fields},
                                           **{k: v for k, v in cleaned.items()}})
        try:
            candidate.to_criterion()
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return cleaned


class ImportEvalForm(forms.Form):
    """The two files `python -m pipeline.eval.run_eval` writes."""

    results = forms.FileField(label=_("Results (run_eval --out, JSONL)"))
    metrics = forms.FileField(label=_("Metrics (run_eval --metrics-out, JSON)"))

    def clean(self) -> dict:
        data = super().clean()
        if data.get("results") and data.get("metrics"):
            try:
                data["parsed"] = parse_files(data["results"].read().decode("utf-8"),
                                             data["metrics"].read().decode("utf-8"))
            except UnicodeDecodeError:
                raise forms.ValidationError(_("The files must be UTF-8 text.")) from None
            except ImportRefused as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


class ABTestForm(forms.Form):
    """Two finished evaluations of one task on one frozen set: A (e.g. the model in service) and B (the candidate)."""

    run_a = forms.ModelChoiceField(label=_("Model A (an earlier evaluation)"), queryset=StageRun.objects.none())
    run_b = forms.ModelChoiceField(label=_("Model B (the candidate)"), queryset=StageRun.objects.none())

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for name in ("run_a", "run_b"):
            field = self.fields[name]
            field.queryset = candidate_runs()
            field.label_from_instance = self.describe

    @staticmethod
    def describe(run: StageRun) -> str:
        return (f"{run_name(run)} · {run.dataset.task.label} · {run.dataset.name} · {_('frozen set')} "
                f"{eval_set_hash(run)[:12]}")

    def clean(self) -> dict:
        data = super().clean()
        run_a, run_b = data.get("run_a"), data.get("run_b")
        if not run_a or not run_b:
            return data
        if run_a.pk == run_b.pk:
            raise forms.ValidationError(_("Pick two different evaluations: A and B are both #%(pk)s.") % {"pk": run_a.pk})
        if run_a.dataset.task_type != run_b.dataset.task_type:
            raise forms.ValidationError(
                _("#%(a)s evaluates %(task_a)s and #%(b)s evaluates %(task_b)s; an A/B test compares two models of "
                  "one task on the same set.")
                % {"a": run_a.pk, "b": run_b.pk, "task_a": run_a.dataset.task.label,
                   "task_b": run_b.dataset.task.label})
        hash_a, hash_b = eval_set_hash(run_a), eval_set_hash(run_b)
        if hash_a != hash_b:
            raise forms.ValidationError(
                _("#%(a)s and #%(b)s were evaluated on different frozen sets (%(hash_a)s… and %(hash_b)s…); an A/B "
                  "test compares two models on the same set.")
                % {"a": run_a.pk, "b": run_b.pk, "hash_a": hash_a[:12], "hash_b": hash_b[:12]})
        return data
