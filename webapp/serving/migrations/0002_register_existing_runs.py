"""Every training run that finished before the registry existed becomes a model (DESIGN §3b)."""

from django.db import migrations


def register(apps, schema_editor):
    StageRun = apps.get_model("runs", "StageRun")
    RegisteredModel = apps.get_model("serving", "RegisteredModel")
    runs = StageRun.objects.filter(kind="train", status="SUCCESS").select_related("dataset")
    for run in runs:
        artifact = run.result.get("adapter_dir") or run.result.get("fine_tuned_model")
        if not artifact or RegisteredModel.objects.filter(source_run=run).exists():
            continue
        trainer = run.params.get("trainer") or "sft"
        base = run.params.get("model_name") or "smollm2-135m-instruct"
        RegisteredModel.objects.get_or_create(
            task_type=run.dataset.task_type, kind="trained", artifact=artifact,
            defaults={"source_run": run, "name": f"run #{run.pk} · {trainer} on {base}", "base_model": base,
                      "trainer": trainer, "backend": run.params.get("backend", "local")})


class Migration(migrations.Migration):
    dependencies = [("serving", "0001_initial"), ("runs", "0005_alter_stagerun_kind")]
    operations = [migrations.RunPython(register, migrations.RunPython.noop)]
