from django.db import migrations


def seed_defaults(apps, schema_editor):
    """DESIGN §7's defaults as editable rows."""
    from pipeline.eval.acceptance import default_criteria

    AcceptanceCriterion = apps.get_model("evals", "AcceptanceCriterion")
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


class Migration(migrations.Migration):
    dependencies = [("evals", "0001_initial")]
    operations = [migrations.RunPython(seed_defaults, migrations.RunPython.noop)]
