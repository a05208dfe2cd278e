from __future__ import annotations

from django import forms

from webapp.evals.models import AcceptanceCriterion


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
