from django.db import migrations, models

SHARED = ("loop_completion", "tracking_complete")


def task_of_each_criterion(apps, schema_editor):
    """Rows seeded before task types were the six-parameter task's, but for the loop and tracking ones."""
    AcceptanceCriterion = apps.get_model("evals", "AcceptanceCriterion")
    AcceptanceCriterion.objects.exclude(key__in=SHARED).update(task_type="hidden_params")


class Migration(migrations.Migration):
    dependencies = [("evals", "0002_abtest")]

    operations = [
        migrations.AlterField(model_name="acceptancecriterion", name="key", field=models.SlugField(max_length=100)),
        migrations.AddField(
            model_name="acceptancecriterion",
            name="task_type",
            field=models.CharField(blank=True, help_text="the task type it judges; empty: every one", max_length=64),
        ),
        migrations.RunPython(task_of_each_criterion, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="acceptancecriterion",
            constraint=models.UniqueConstraint(fields=("task_type", "key"), name="one_criterion_key_per_task"),
        ),
    ]
