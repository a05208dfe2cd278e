from django.db import migrations, models


def parsed_results(apps, schema_editor):
    """Results stored before task types held the six values under "values"; they are the parsed answer now."""
    PlaygroundRequest = apps.get_model("playground", "PlaygroundRequest")
    for row in PlaygroundRequest.objects.all():
        if not any("values" in result and "parsed" not in result for result in row.results):
            continue
        for result in row.results:
            if "values" in result and "parsed" not in result:
                values = result.pop("values")
                result["parsed"] = values
                result["display"] = [[key, value] for key, value in (values or {}).items()]
        row.save(update_fields=["results"])


class Migration(migrations.Migration):
    dependencies = [("playground", "0001_initial")]

    operations = [
        # Every row written before task types is a six-parameter request.
        migrations.AddField(
            model_name="playgroundrequest",
            name="task_type",
            field=models.CharField(default="hidden_params", max_length=64),
        ),
        migrations.AddField(
            model_name="correction",
            name="task_type",
            field=models.CharField(db_index=True, default="hidden_params", max_length=64),
        ),
        migrations.AlterField(
            model_name="playgroundrequest",
            name="model_specs",
            field=models.JSONField(help_text="model specs: rule_baseline, prompt_baseline, run:<training run id>, "
                                             "remote:<model>"),
        ),
        migrations.AlterField(
            model_name="correction",
            name="predicted",
            field=models.JSONField(blank=True, help_text="the answer the model gave (parsed)", null=True),
        ),
        migrations.AlterField(
            model_name="correction",
            name="corrected",
            field=models.JSONField(blank=True, help_text="the answer the designer set", null=True),
        ),
        migrations.RunPython(parsed_results, migrations.RunPython.noop),
    ]
