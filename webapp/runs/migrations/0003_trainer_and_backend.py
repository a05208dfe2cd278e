from django.db import migrations

# Before: params["backend"] named the trainer for local runs ("local" = SFT, "reg_head", "cls_head").
_TRAINER_OF_BACKEND = {"local": "sft", "reg_head": "reg_head", "cls_head": "cls_head", "hf_jobs": "sft", "mistral": "sft"}


def split_trainer_from_backend(apps, schema_editor):
    """params["trainer"] says what learns, params["backend"] where it runs (local, hf_jobs, mistral)."""
    StageRun = apps.get_model("runs", "StageRun")
    for run in StageRun.objects.filter(kind="train"):
        backend = run.params.get("backend", "local")
        if "trainer" in run.params or backend not in _TRAINER_OF_BACKEND:
            continue
        run.params = {**run.params, "trainer": _TRAINER_OF_BACKEND[backend],
                      "backend": backend if backend in ("hf_jobs", "mistral") else "local"}
        run.save(update_fields=["params"])
    Loop = apps.get_model("runs", "Loop")
    for loop in Loop.objects.all():
        training = loop.params.get("training", {})
        backend = training.get("backend", "local")
        if "trainer" in training or backend not in _TRAINER_OF_BACKEND:
            continue
        loop.params = {**loop.params, "training": {**training, "trainer": _TRAINER_OF_BACKEND[backend],
                                                   "backend": "local"}}
        loop.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [("runs", "0002_sent_at_and_resumes")]

    operations = [migrations.RunPython(split_trainer_from_backend, migrations.RunPython.noop)]
