from django.apps import AppConfig
from django.db.models.signals import post_migrate


def seed_default_criteria(sender, **kwargs) -> None:
    """DESIGN §7's defaults as editable rows, for every task type registered now (webapp.evals.models)."""
    from pipeline.tasks.registry import all_tasks
    from webapp.evals.models import seed_criteria

    seed_criteria(None)
    for task in all_tasks():
        seed_criteria(task)


class EvalsConfig(AppConfig):
    name = "webapp.evals"
    label = "evals"

    def ready(self) -> None:
        post_migrate.connect(seed_default_criteria, sender=self)
