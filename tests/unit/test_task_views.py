"""Forms and pages for every task type: imports, task and preset choices, A/B tests; no view names a task type."""

import json
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipeline.data.jsonl import write_jsonl
from pipeline.tasks.registry import get_task, task_names
from tests.factories import LABELS, POST, four_class_pair, four_class_set
from webapp.datasets.models import Dataset
from webapp.evals.ab import create_ab_test
from webapp.evals.models import ABTest
from webapp.runs.models import Loop, StageRun

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def upload(client, task: str, lines: list[str]):
    return client.post(reverse("dataset_import"), {
        "task": task, "name": "imported", "file": SimpleUploadedFile("rows.jsonl", "\n".join(lines).encode())})


def ab_pair(salt: str = "") -> tuple[StageRun, StageRun]:
    """Model A answers ALLOW on even items (right on 3 of 4 items), model B gives no answer on every fifth item."""
    return four_class_pair(four_class_set(40, salt=salt))


def test_a_bad_four_class_line_is_named_and_nothing_is_stored(engineer_client, data_dir):
    existing = Dataset.objects.create(name="keep me")
    response = upload(engineer_client, "four_class", [json.dumps({"text": POST, "label": "ALLOW"}),
                                                      json.dumps({"text": POST, "label": "MAYBE"}), '{"text": "x"'])
    errors = response.context["form"].errors["file"]
    assert errors[0] == "Line 2: \"label\" must be one of ALLOW, ESCALATION, DENY, REFUSE, got 'MAYBE'"
    assert errors[1].startswith("Line 3: not valid JSON") and errors[-1] == "Nothing was imported."
    assert list(Dataset.objects.all()) == [existing] and not StageRun.objects.exists()
    assert not (data_dir / "datasets").exists()


def test_a_bad_multiple_choice_line_is_named(engineer_client):
    row = {"input": "Question: 2 + 2?\nA. 3\nB. 4", "output": "Answer: B", "meta": {"mode": "essay"}}
    response = upload(engineer_client, "multiple_choice", [json.dumps(row)])
    assert response.context["form"].errors["file"][0] == "Line 1: \"meta.mode\" must be \"direct\" or \"cot\", got 'essay'"
    assert not Dataset.objects.exists()


def test_a_clean_text_task_import_queues_clean_split_freeze(engineer_client, redis_url, data_dir):
    response = upload(engineer_client, "four_class", [json.dumps({"text": POST, "label": label}) for label in LABELS])
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and dataset.task_type == "four_class" and dataset.params["size"] == 4
    assert [run.kind for run in StageRun.objects.order_by("sequence")] == ["filter", "split", "freeze"]
    assert '"answer":"DENY"' in (dataset.directory / "generated.jsonl").read_text()


def test_a_language_without_demo_data_is_refused_with_the_tasks_reason(engineer_client):
    response = engineer_client.post(reverse("dataset_new"), {"task": "multiple_choice", "size": 100, "seed": 0,
                                                             "language": "mixed", "teacher": "template"})
    assert "unknown language 'mixed'" in response.context["form"].errors["language"][0]
    assert not Dataset.objects.exists()


def test_the_forms_offer_every_registered_task_and_its_presets(engineer_client):
    pages = {view: engineer_client.get(reverse(view)).content.decode()
             for view in ("dataset_new", "dataset_import", "loop_new", "training_new")}
    for name in task_names():
        assert all(f'value="{name}"' in pages[view] for view in ("dataset_new", "dataset_import", "loop_new"))
        for view in ("loop_new", "training_new"):
            assert all(f'value="{name}:{preset.key}"' in pages[view] for preset in get_task(name).presets)


def test_the_loop_form_refuses_a_preset_of_another_task(engineer_client):
    response = engineer_client.post(reverse("loop_new"), {
        "name": "l", "task": "four_class", "preset": "multiple_choice:A", "cycles": 1, "size": 60, "seed": 0,
        "language": "en", "model_name": "m", "num_epochs": 1, "max_steps": 2, "learning_rate": 0.001,
        "batch_size": 2, "lora_r": 4, "decode": "constrained"})
    assert response.context["form"].errors["preset"] == [f"Choose a preset of {get_task('four_class').label}."]


def training_post(dataset: Dataset, **values) -> dict:
    return {"dataset": dataset.pk, "backend": "local", "model_name": "m", "num_epochs": 1, "max_steps": 2,
            "learning_rate": 0.001, "batch_size": 2, "gradient_accumulation_steps": 1, "max_seq_length": 256,
            "warmup_ratio": 0, "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0, "eval_steps": 5, "logging_steps": 1,
            "checkpoint_minutes": 5, "seed": 0, "flavor": "a10g-small", **values}


def test_remote_backends_fine_tune_generatively_for_every_task(engineer_client):
    dataset = Dataset.objects.create(name="fc", task_type="four_class", stats={"counts": {"train": 8}})
    response = engineer_client.post(reverse("training_new"), training_post(
        dataset, backend="hf_jobs", confirm_remote="on", preset="four_class:cls_head"))
    [error] = response.context["form"].non_field_errors()
    assert error == "the hf_jobs backend fine-tunes generatively (sft), not with cls_head"
    response = engineer_client.post(reverse("training_new"), training_post(
        dataset, backend="hf_jobs", confirm_remote="on", preset="multiple_choice:A"))
    assert response.context["form"].errors["preset"] == [f"Choose a preset of {get_task('four_class').label}."]
    assert not StageRun.objects.exists()


def test_a_train_mode_that_suits_none_of_the_rows_is_refused_on_the_form(engineer_client, data_dir):
    task = get_task("multiple_choice")
    dataset = Dataset.objects.create(name="mc", task_type="multiple_choice", stats={"counts": {"train": 2}})
    rows = [task.validate_row({"id": f"q{n}", "input": "Question: 1 + 1?\nA. 2\nB. 3", "output": "Answer: A",
                               "meta": {"mode": "direct"}}, n) for n in range(2)]
    write_jsonl(dataset.directory / "train.jsonl", rows)
    response = engineer_client.post(reverse("training_new"), training_post(dataset, preset="multiple_choice:B"))
    [error] = response.context["form"].non_field_errors()
    assert error.startswith("train mode 'cot' can use none of the 2 train rows") and "row q0" in error
    assert not StageRun.objects.exists()


def test_an_ab_test_of_runs_on_different_frozen_sets_is_refused(engineer_client):
    run_a, _ = ab_pair("a")
    _, run_b = ab_pair("b")
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk})
    [error] = response.context["form"].non_field_errors()
    hash_a, hash_b = (run.result["provenance"]["eval_set_hash"][:12] for run in (run_a, run_b))
    assert error == (f"#{run_a.pk} and #{run_b.pk} were evaluated on different frozen sets ({hash_a}… and "
                     f"{hash_b}…); an A/B test compares two models on the same set.")
    assert not ABTest.objects.exists()


def test_an_ab_test_of_a_run_with_itself_is_refused(engineer_client):
    run_a, _ = ab_pair()
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_a.pk})
    assert response.context["form"].non_field_errors() == [f"Pick two different evaluations: A and B are both #{run_a.pk}."]


def test_an_ab_test_is_stored_shown_and_linked_from_both_runs(engineer_client):
    run_a, run_b = ab_pair()
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk})
    test = ABTest.objects.get()
    assert response["Location"] == reverse("ab_test_detail", args=[test.pk])
    assert test.result["metrics"]["accuracy"]["a"] == 0.75 and test.result["metrics"]["accuracy"]["b"] == 0.8
    assert test.result["test"]["name"] == "mcnemar" and test.result["test"]["b"] == 6 and test.result["test"]["c"] == 8
    page = engineer_client.get(response["Location"]).content.decode()
    assert "McNemar" in page and re.search(r'data-testid="ci">\[0\.\d{4}, 0\.\d{4}\]', page)
    data = engineer_client.get(reverse("ab_test_data", args=[test.pk])).json()
    assert data["charts"]["a"]["confusion"]["labels"] == list(LABELS)
    assert len(data["charts"]["b"]["confusion"]["matrix"]) == 4
    for run in (run_a, run_b):
        assert reverse("ab_test_detail", args=[test.pk]) in engineer_client.get(
            reverse("run_detail", args=[run.pk])).content.decode()


def test_designers_may_read_ab_tests_but_not_create_them(client, designer):
    run_a, run_b = ab_pair()
    test = create_ab_test(run_a, run_b)
    client.force_login(designer)
    assert client.get(reverse("ab_test_detail", args=[test.pk])).status_code == 200
    assert client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk}).status_code == 403
    assert ABTest.objects.count() == 1


def test_ab_pages_require_login(client):
    assert client.get(reverse("ab_tests"))["Location"].startswith(reverse("login"))


def test_no_view_form_stage_template_or_script_names_a_task_type():
    """Registering a task type is one package and one line in pipeline/tasks/registry.py: the web app, the workers,
    templates and scripts iterate the registry, the flagship included, and never import a task's package."""
    files = [*ROOT.glob("webapp/**/*.py"), *ROOT.glob("workers/**/*.py"), *ROOT.glob("templates/**/*.html"),
             *ROOT.glob("static/**/*.js"), *ROOT.glob("static/**/*.css")]
    words = re.compile("|".join([*(re.escape(name) for name in task_names()), "text_task", "FLAGSHIP_TASK",
                                 "flagship", r"pipeline\.tasks\.(?!registry|predictors|text\b)\w+"]))
    named = {str(path.relative_to(ROOT)): words.findall(path.read_text(encoding="utf-8")) for path in files
             if "migrations" not in path.parts}
    assert {path: found for path, found in named.items() if found} == {}
    assert len(named) > 40  # the glob found the web app


def loop_post(**values) -> dict:
    return {"name": "l", "task": "hidden_params", "cycles": 1, "size": 60, "seed": 0, "language": "en",
            "model_name": "m", "num_epochs": 1, "max_steps": 2, "learning_rate": 0.001, "batch_size": 2, "lora_r": 4,
            "decode": "constrained", **values}


def test_the_loop_form_trains_the_regression_head_by_default_and_refuses_qlora_for_it(engineer_client):
    from webapp.runs.forms import LoopForm

    form = LoopForm(loop_post())
    assert form.is_valid() and form.training()["trainer"] == "reg_head" and form.training()["backend"] == "local"
    form = LoopForm(loop_post(preset="hidden_params:sft"))
    assert form.is_valid() and form.training()["trainer"] == "sft"

    response = engineer_client.post(reverse("loop_new"), loop_post(preset="hidden_params:reg_head", load_in_4bit="on"))
    assert "the reg_head trainer does not take load_in_4bit" in response.content.decode()
    assert not Loop.objects.exists()


def test_the_training_form_keeps_each_task_to_its_own_presets(engineer_client):
    dataset = Dataset.objects.create(name="fc", task_type="four_class", stats={"counts": {"train": 8}})
    response = engineer_client.post(reverse("training_new"), training_post(dataset, preset="hidden_params:reg_head"))
    assert response.context["form"].errors["preset"] == [f"Choose a preset of {get_task('four_class').label}."]
    assert not StageRun.objects.exists()
