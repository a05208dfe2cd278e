from django.apps import AppConfig
from django.db.models.signals import post_migrate


def seed_default_criteria(sender, **kwargs) -> None:
    """DESIGN §7's defaults as editable rows, per task type (loop and tracking ones for all: task_type "");
    existing rows (maybe edited) are left alone."""
    from pipeline.eval.acceptance import loop_and_tracking_criteria, task_criteria
    from pipeline.tasks.registry import all_tasks
    from webapp.evals.models import AcceptanceCriterion

    seeds = [(task.name, criterion) for task in all_tasks() for criterion in task_criteria(task)]
    seeds += [("", criterion) for criterion in loop_and_tracking_criteria()]
    for task_type, criterion in seeds:
        AcceptanceCriterion.objects.get_or_create(
            key=criterion.key,
            task_type=task_type,
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
