from django.apps import AppConfig
from django.db.models.signals import post_migrate


def seed_default_criteria(sender, **kwargs) -> None:
    """DESIGN §7's defaults as editable rows; existing rows (maybe edited) are left alone."""
    from pipeline.eval.acceptance import default_criteria
    from webapp.evals.models import AcceptanceCriterion

    for criterion in default_criteria():
        AcceptanceCriterion.objects.get_or_create(
            key=criterion.key,
            defaults={
                "metric": criterion.metric,
                "comparator": criterion.comparator,
                "threshold": criterion.threshold,
                "applies_to": criterion.applies_to or "",
                "baseline": criterion.baseline or "",
                "direction": criterion.direction or "",
                "min_cycles": criterion.min_cycles,
                "required": list(criterion.required),
                "description": criterion.description,
            },
        )


class EvalsConfig(AppConfig):
    name = "webapp.evals"
    label = "evals"

    def ready(self) -> None:
        post_migrate.connect(seed_default_criteria, sender=self)
