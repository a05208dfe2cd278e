"""The two text task types through the real stack: web forms -> Redis -> a real Celery worker -> rows, files, pages.

A tiny Llama (tests/tiny_model.py) stands in for the base model, so every stage runs in CI time.
"""

import json

import pytest
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl
from pipeline.tasks.registry import get_task
from tests.conftest import wait_for
from tests.tiny_model import make_tiny_llama
from webapp.datasets.models import Dataset
from webapp.evals.models import ABTest, EvalExample
from webapp.runs.models import Cycle, Loop, Metric, StageRun

pytestmark = pytest.mark.integration
Status = StageRun.Status
Kind = StageRun.Kind
HYPERPARAMETERS = {"num_epochs": 1.0, "max_steps": 6, "learning_rate": 5e-3, "batch_size": 4, "lora_r": 4}


def tiny_base(tmp_path, task_name: str) -> str:
    """A tiny model whose tokenizer has seen the task's demo texts, prompts and answers."""
    task = get_task(task_name)
    rows = task.demo_rows(80, 0, "en")
    texts = [message["content"] for row in rows for message in task.chat_messages(row, True)]
    return str(make_tiny_llama(tmp_path / f"tiny-{task_name}", texts))


def training_form(dataset, base, preset, **overrides):
    values = {"dataset": dataset.pk, "backend": "local", "preset": preset, "model_name": base,
              "gradient_accumulation_steps": 1, "max_seq_length": 256, "warmup_ratio": 0.0, "lora_alpha": 8,
              "lora_dropout": 0.0, "eval_steps": 3, "logging_steps": 2, "checkpoint_minutes": 5.0, "seed": 1,
              **HYPERPARAMETERS}
    return values | overrides


def chain_done(rows):
    rows = list(StageRun.objects.filter(pk__in=[row.pk for row in rows]))
    if any(row.status in (Status.FAILURE, Status.REVOKED) for row in rows):
        return "failed"
    return all(row.status == Status.SUCCESS for row in rows)


def chain_of(run):
    return list(StageRun.objects.filter(chain_id=run.chain_id).order_by("sequence"))


def problems(rows):
    return [(row.kind, row.params.get("predictor"), row.status, row.error) for row in StageRun.objects.filter(
        pk__in=[row.pk for row in rows]).exclude(status=Status.SUCCESS)]


def evaluations(rows):
    return {row.params["predictor"]: row for row in StageRun.objects.filter(
        pk__in=[row.pk for row in rows], kind=Kind.EVALUATE)}


def assert_sane_evaluations(evals, task, frozen):
    assert set(evals) == {"rule_baseline", "prompt_baseline", "fine_tuned"}
    for predictor, run in evals.items():
        metrics = run.result["metrics"]
        assert metrics["n_examples"] == frozen.size == EvalExample.objects.filter(run=run).count()
        assert 0.0 <= metrics[task.headline_metric] <= 1.0 and 0.0 <= metrics["accuracy"] <= 1.0
        assert metrics["p95_inference_latency_ms"] > 0
        assert run.result["provenance"]["eval_set_hash"] == frozen.content_hash
        stored = dict(Metric.objects.filter(run=run, step=0).values_list("key", "value"))
        assert stored["accuracy"] == pytest.approx(metrics["accuracy"]) and len(stored) >= 5, predictor


def test_four_class_runs_a_loop_cycle_from_the_form_then_a_classification_head_and_an_ab_test(
        engineer_client, start_worker, tmp_path):
    start_worker()
    base = tiny_base(tmp_path, "four_class")
    task = get_task("four_class")
    response = engineer_client.post(reverse("loop_new"), {
        "name": "fc loop", "task": "four_class", "preset": "four_class:sft", "cycles": 1, "size": 60, "seed": 1,
        "language": "en", "model_name": base, "decode": "constrained", **HYPERPARAMETERS})
    loop = Loop.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("loop_detail", args=[loop.pk])
    cycle_rows = list(StageRun.objects.filter(cycle__loop=loop).order_by("sequence"))
    assert [row.kind for row in cycle_rows] == ["generate", "filter", "split", "freeze", "train", "evaluate",
                                                "evaluate", "evaluate", "verdict"]
    assert wait_for(lambda: chain_done(cycle_rows), timeout=600, message="the four_class cycle") is True, \
        problems(cycle_rows)

    dataset = Dataset.objects.get()
    assert dataset.task_type == "four_class" and dataset.stats["counts"]["total"] == 60
    assert set(dataset.stats["answers"]["train"]) == {"ALLOW", "ESCALATION", "DENY", "REFUSE"}
    frozen = dataset.frozen_eval_set
    assert read_jsonl(frozen.path)[0].keys() >= {"id", "text", "answer", "language"}
    stats = engineer_client.get(reverse("dataset_stats", args=[dataset.pk])).json()
    assert stats["axes"] == [] and sum(stats["stats"]["answers"]["test"].values()) == frozen.size
    page = engineer_client.get(reverse("dataset_detail", args=[dataset.pk])).content.decode()
    assert task.label in page and "<code>ALLOW</code>" in page
    evals = evaluations(cycle_rows)
    assert_sane_evaluations(evals, task, frozen)
    assert evals["rule_baseline"].result["metrics"]["accuracy"] > 0.5  # the keyword rules read the demo data well
    confusion = evals["fine_tuned"].result["charts"]["confusion"]
    assert sum(map(sum, confusion["matrix"])) + sum(confusion["invalid"]) == frozen.size

    cycle = Cycle.objects.get(loop=loop)
    verdicts = {v["criterion"]["key"]: v for v in cycle.verdicts}
    assert cycle.completed and verdicts["beats_prompt_baseline_macro_f1"]["passed"] in (True, False)
    assert "prompt_baseline" in verdicts["beats_prompt_baseline_macro_f1"]["reason"]
    assert verdicts["loop_completion"]["passed"] is False  # one cycle; the criterion asks for two
    assert "json_valid_rate" not in verdicts

    train = next(row for row in cycle_rows if row.kind == Kind.TRAIN)
    record = engineer_client.get(reverse("run_artifact", args=[train.pk, "EXPERIMENT.md"]))
    text = b"".join(record.streaming_content).decode()
    assert record.status_code == 200 and text.startswith(f"# Experiment run{train.pk}")
    assert "| macro_f1 |" in text and "pipeline.eval.run_eval --task four_class --mode fine_tuned" in text
    assert "EXPERIMENT.md" in engineer_client.get(reverse("run_detail", args=[train.pk])).content.decode()

    data = engineer_client.get(reverse("compare_data") + f"?loop={loop.pk}").json()
    assert "runs" not in data and [section["name"] for section in data["tasks"]] == ["four_class"]
    section = data["tasks"][0]
    assert section["metric_keys"][0] == "macro_f1" and section["higher_is_better"]["false_allow_rate"] is False
    assert {run["predictor"] for run in section["runs"]} == set(evals)
    assert all(len(run["charts"]["confusion"]["matrix"]) == 4 for run in section["runs"])
    page = engineer_client.get(reverse("compare") + f"?loop={loop.pk}").content.decode()
    assert 'class="card task-section" data-task="four_class"' in page and 'data-metric="false_allow_rate"' in page

    # The classification head, from the training form, on the same dataset: its own chain to a verdict.
    response = engineer_client.post(reverse("training_new"), training_form(dataset, base, "four_class:cls_head"))
    head = StageRun.objects.filter(kind=Kind.TRAIN).latest("pk")
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=[head.pk])
    assert head.params["trainer"] == "cls_head" and head.params["focal_gamma"] == 2.0
    head_rows = chain_of(head)
    assert [row.kind for row in head_rows] == ["train", "evaluate", "evaluate", "evaluate", "verdict"]
    assert wait_for(lambda: chain_done(head_rows), timeout=600, message="the classification head chain") is True, \
        problems(head_rows)
    head.refresh_from_db()
    assert (head.directory / "adapter" / "cls_head.json").is_file() and (head.directory / "EXPERIMENT.md").is_file()
    head_evals = evaluations(head_rows)
    assert_sane_evaluations(head_evals, task, frozen)
    assert head_evals["fine_tuned"].result["provenance"]["adapter"] == head.result["adapter_dir"]
    verdict = next(row for row in chain_of(head) if row.kind == Kind.VERDICT)
    assert {v["criterion"]["key"] for v in verdict.result["verdicts"]} >= {"beats_prompt_baseline_macro_f1"}

    # A/B: the SFT model (A) against the classification head (B) on the same frozen set.
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": evals["fine_tuned"].pk,
                                                                "run_b": head_evals["fine_tuned"].pk})
    test = ABTest.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("ab_test_detail", args=[test.pk])
    assert test.result["n_examples"] == frozen.size and set(test.result["metrics"]) >= {
        "accuracy", "macro_f1", "false_allow_rate"}
    assert test.result["test"]["name"] == "mcnemar" and 0 <= test.result["test"]["p_value"] <= 1
    run_page = engineer_client.get(reverse("run_detail", args=[head_evals["fine_tuned"].pk])).content.decode()
    assert reverse("ab_test_detail", args=[test.pk]) in run_page


def test_multiple_choice_imports_jsonl_and_trains_preset_d_with_retrieved_context(engineer_client, start_worker,
                                                                                  tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    start_worker()
    task = get_task("multiple_choice")
    base = tiny_base(tmp_path, "multiple_choice")
    lines = [json.dumps({"id": row["id"], "input": row["text"], "output": row["output"], "meta": row["meta"]},
                        ensure_ascii=False) for row in task.demo_rows(60, 5, "en")]
    response = engineer_client.post(reverse("dataset_import"), {
        "task": "multiple_choice", "name": "mc import",
        "file": SimpleUploadedFile("mc.jsonl", "\n".join(lines).encode())})
    dataset = Dataset.objects.get()
    assert response.status_code == 302 and dataset.task_type == "multiple_choice"
    data_rows = list(dataset.runs.order_by("sequence"))
    assert wait_for(lambda: chain_done(data_rows), timeout=120, message="the data stages") is True, problems(data_rows)
    dataset.refresh_from_db()
    assert dataset.frozen_eval_set and dataset.examples.filter(split="test").count() == dataset.frozen_eval_set.size

    response = engineer_client.post(reverse("training_new"), training_form(dataset, base, "multiple_choice:D"))
    train = StageRun.objects.get(kind=Kind.TRAIN)
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    assert train.params["train_mode"] == "auto" and train.params["retrieval_context"] is True
    assert train.params["max_seq_length"] == 768  # the preset's value wins over the form's
    rows = chain_of(train)
    assert wait_for(lambda: chain_done(rows), timeout=600, message="the multiple_choice chain") is True, problems(rows)

    chats = read_jsonl(train.directory / "chat_train.jsonl")
    with_context = [chat for chat in chats if chat["messages"][1]["content"].startswith("Context: ")]
    assert with_context and all("Use the context" in chat["messages"][0]["content"] for chat in with_context)
    evals = evaluations(rows)
    assert_sane_evaluations(evals, task, dataset.frozen_eval_set)
    for run in evals.values():
        assert run.result["charts"]["accuracy_by_mode"]["modes"][0] == "all"
        assert run.result["provenance"]["train_mode"] == "auto"
    prompts = read_jsonl(evals["prompt_baseline"].directory / "eval_rows.jsonl")
    lore = [row for row in prompts if row["meta"]["family"] == "lore"]
    assert all(row["prompt_text"].startswith("Context: ") and row["text"] in row["prompt_text"] for row in lore)
    verdict = next(row for row in chain_of(train) if row.kind == Kind.VERDICT)
    assert verdict.result["verdicts"][0]["criterion"]["key"] == "beats_prompt_baseline_accuracy"

    data = engineer_client.get(reverse("compare_data") + "?ids=" + ",".join(str(r.pk) for r in evals.values())).json()
    [section] = data["tasks"]
    assert section["name"] == "multiple_choice" and "accuracy/direct" in section["metric_keys"]
    assert all("answer_letters" in run["charts"] for run in section["runs"])
