from django.db import migrations, models


def task_of_each_set(apps, schema_editor):
    """A frozen set belongs to the task of the dataset that froze it."""
    FrozenEvalSet = apps.get_model("datasets", "FrozenEvalSet")
    for frozen in FrozenEvalSet.objects.all():
        dataset = frozen.datasets.order_by("pk").first()
        if dataset is not None and frozen.task_type != dataset.task_type:
            frozen.task_type = dataset.task_type
            frozen.save(update_fields=["task_type"])


class Migration(migrations.Migration):
    dependencies = [("datasets", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="frozenevalset",
            name="task_type",
            field=models.CharField(db_index=True, default="hidden_params", max_length=64),
        ),
        migrations.RunPython(task_of_each_set, migrations.RunPython.noop),
    ]
