"""Input bounds and model names (issue #13 part 6): absurd counts and paths outside the models directory are
refused by the forms, and the workers' loader refuses the same names."""

import os

import pytest
from django.urls import reverse

from pipeline.train import sft
from pipeline.train.base_models import (
    BundledModel,
    ModelNotAllowed,
    model_location,
    resolve_base_model,
)
from webapp import bounds
from webapp.datasets.forms import DataCycleForm
from webapp.datasets.models import Dataset
from webapp.runs.forms import LoopForm, TrainingForm
from webapp.runs.models import Loop, StageRun

OUTSIDE = ["../../../../etc", "/etc", "models/../../etc", "owner/..", "a..b/c", "~/models", "", "owner/name/extra"]


@pytest.fixture
def local_model(models_dir):
    path = models_dir / "local-models" / "tiny"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "HuggingFaceTB/SmolLM2-135M-Instruct"])
def test_bundled_models_are_named_by_alias_or_hub_id(name, models_dir):
    assert isinstance(model_location(name, models_dir), BundledModel)


@pytest.mark.parametrize("name", ["mistralai/Ministral-3-3B-Instruct-2512-BF16", "gpt2", "ministral-3b-latest"])
def test_hub_ids_pass_unchanged(name, models_dir):
    assert model_location(name, models_dir) == name


def test_a_directory_under_the_models_directory_loads_by_path_or_relative_name(local_model, models_dir):
    assert model_location(str(local_model), models_dir) == local_model
    assert model_location("local-models/tiny", models_dir) == local_model


@pytest.mark.parametrize("name", OUTSIDE)
def test_names_outside_the_models_directory_are_refused(name, models_dir):
    with pytest.raises(ModelNotAllowed, match="is not a model ftloop loads"):
        model_location(name, models_dir)


def test_a_symlink_out_of_the_models_directory_is_refused(models_dir):
    link = models_dir / f"escape-{os.getpid()}"
    link.symlink_to(models_dir.parent, target_is_directory=True)
    try:
        with pytest.raises(ModelNotAllowed):
            model_location(str(link), models_dir)
        assert model_location(link.name, models_dir) == link.name  # a hub id then, never the directory
    finally:
        link.unlink()


def test_without_a_models_directory_no_local_directory_loads(local_model):
    with pytest.raises(ModelNotAllowed, match=r"\$FTLOOP_MODELS_DIR \(not set\)"):
        model_location(str(local_model), None)


def test_the_workers_loaders_refuse_the_same_names(local_model, monkeypatch):
    """What a worker runs (models directory from the environment, as settings exports it) with a row's name."""
    from pipeline.infer.hf import load_model

    assert resolve_base_model(str(local_model)) == str(local_model)
    with pytest.raises(ModelNotAllowed):
        resolve_base_model("../../../../etc")
    with pytest.raises(ModelNotAllowed):
        sft.resolve_model("/etc", None)
    with pytest.raises(ModelNotAllowed):
        load_model("../../../../etc")
    monkeypatch.delenv("FTLOOP_MODELS_DIR")
    with pytest.raises(ModelNotAllowed):
        resolve_base_model(str(local_model))


def test_every_form_reads_its_bounds_from_one_table():
    training, loop, data = TrainingForm().fields, LoopForm().fields, DataCycleForm().fields
    for fields in (training, loop):
        for name, bound in [("max_steps", bounds.MAX_STEPS), ("num_epochs", bounds.NUM_EPOCHS),
                            ("batch_size", bounds.BATCH_SIZE), ("learning_rate", bounds.LEARNING_RATE),
                            ("lora_r", bounds.LORA_R), ("seed", bounds.SEED)]:
            assert (fields[name].min_value, fields[name].max_value) == (bound["min_value"], bound["max_value"])
    assert loop["cycles"].max_value == bounds.CYCLES["max_value"]
    assert loop["size"].max_value == bounds.LOOP_SIZE["max_value"]
    assert data["size"].max_value == bounds.DATASET_SIZE["max_value"]
    assert data["teacher_budget_usd"].max_value == bounds.TEACHER_BUDGET_USD["max_value"]


def training_post(dataset: Dataset, **values) -> dict:
    return {"dataset": dataset.pk, "backend": "local", "model_name": "smollm2-135m-instruct", "num_epochs": 1,
            "max_steps": 2, "learning_rate": 0.001, "batch_size": 2, "gradient_accumulation_steps": 1,
            "max_seq_length": 256, "warmup_ratio": 0, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0,
            "eval_steps": 5, "logging_steps": 1, "checkpoint_minutes": 5, "seed": 0, **values}


def loop_post(**values) -> dict:
    return {"name": "l", "cycles": 1, "size": 60, "seed": 0, "language": "en", "model_name": "smollm2-135m-instruct",
            "num_epochs": 1, "max_steps": 2, "learning_rate": 0.001, "batch_size": 2, "lora_r": 4,
            "decode": "constrained", "preset": "hidden_params:reg_head", **values}


ABSURD = {"max_steps": 10**12, "num_epochs": 1e6, "batch_size": 10**6, "model_name": "../../../../etc"}


@pytest.mark.django_db
def test_the_training_form_refuses_absurd_values_and_paths(engineer_client):
    dataset = Dataset.objects.create(name="d", stats={"counts": {"train": 8}})
    response = engineer_client.post(reverse("training_new"), training_post(dataset, **ABSURD))
    errors = response.context["form"].errors
    assert response.status_code == 200 and set(errors) == set(ABSURD)
    assert errors["max_steps"] == ["Ensure this value is less than or equal to 100000."]
    assert "is not a model ftloop loads" in errors["model_name"][0]
    assert not StageRun.objects.exists()


@pytest.mark.django_db
def test_the_loop_form_refuses_absurd_values_and_paths(engineer_client):
    absurd = {**ABSURD, "cycles": 10**6, "size": 10**9, "model_name": "/etc"}
    response = engineer_client.post(reverse("loop_new"), loop_post(**absurd))
    errors = response.context["form"].errors
    assert response.status_code == 200 and set(errors) == set(absurd)
    assert not Loop.objects.exists()


@pytest.mark.django_db
def test_the_dataset_form_refuses_an_absurd_size(engineer_client):
    response = engineer_client.post(reverse("dataset_new"), {"size": 10**9, "seed": 0, "language": "en",
                                                              "teacher": "template", "teacher_budget_usd": 10**9})
    assert set(response.context["form"].errors) == {"size", "teacher_budget_usd"}
    assert not Dataset.objects.exists()


@pytest.mark.django_db
def test_a_model_under_the_models_directory_passes_the_form(local_model):
    dataset = Dataset.objects.create(name="d", stats={"counts": {"train": 8}})
    form = TrainingForm(training_post(dataset, model_name=str(local_model)))
    assert form.is_valid(), form.errors
