"""A run_eval result from the command line becomes an evaluation row the comparison page shows (issue 15)."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl
from pipeline.eval.run_eval import write_result
from pipeline.eval.runner import evaluate
from pipeline.tasks.registry import get_task
from tests.factories import six_values_set
from webapp.evals.models import EvalExample
from webapp.runs.models import StageRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def result_files(tmp_path):
    """The rule baseline evaluated by the runner on a frozen set of this ftloop, written as run_eval writes it."""
    dataset = six_values_set(items=12)
    task = get_task("hidden_params")
    result = evaluate(task, task.rule_baseline(), read_jsonl(dataset.frozen_eval_set.path))
    write_result(result, tmp_path / "rule.jsonl", tmp_path / "rule.metrics.json")
    frozen = dataset.frozen_eval_set  # the factory names it by row id; the freeze stage names sets by content
    frozen.content_hash = result.provenance["eval_set_hash"]
    frozen.save(update_fields=["content_hash"])
    return dataset, result, tmp_path / "rule.jsonl", tmp_path / "rule.metrics.json"


def upload(client, results: bytes, metrics: bytes):
    return client.post(reverse("compare_import"), {"results": SimpleUploadedFile("rule.jsonl", results),
                                                   "metrics": SimpleUploadedFile("rule.metrics.json", metrics)})


def test_an_uploaded_result_is_an_evaluation_on_the_comparison_page(engineer_client, result_files):
    dataset, result, rows, metrics = result_files
    response = upload(engineer_client, rows.read_bytes(), metrics.read_bytes())
    run = StageRun.objects.get(kind=StageRun.Kind.EVALUATE)
    assert response.status_code == 302 and response["Location"].endswith(f"?runs={run.pk}")
    assert run.status == StageRun.Status.SUCCESS and run.params["predictor"] == "rule_baseline"
    assert run.result["metrics"]["vector_mae"] == result.metrics["vector_mae"]
    assert run.result["provenance"]["eval_set_hash"] == dataset.frozen_eval_set.content_hash
    assert EvalExample.objects.filter(run=run).count() == 12
    page = engineer_client.get(response["Location"]).content.decode()
    assert f"rule_baseline · #{run.pk}" in page


def test_a_wrong_file_is_refused_with_its_reason_and_nothing_is_stored(engineer_client, result_files, tmp_path):
    _, _, rows, metrics = result_files
    summary = json.loads(metrics.read_text())
    unknown = json.dumps({**summary, "provenance": {**summary["provenance"], "eval_set_hash": "f" * 64}}).encode()
    cases = [(b"not json\n", metrics.read_bytes(), "results line 1 is not JSON"),
             (rows.read_bytes(), b"[", "the metrics file is not JSON"),
             (rows.read_bytes(), unknown, "no frozen set has the hash ffffffffffff"),
             (b"\n".join(rows.read_bytes().splitlines()[:3]), metrics.read_bytes(), "3 result rows for a frozen set of 12")]
    for results, metrics_bytes, reason in cases:
        response = upload(engineer_client, results, metrics_bytes)
        assert response.status_code == 400 and reason in response.content.decode(), reason
    assert not StageRun.objects.filter(kind=StageRun.Kind.EVALUATE).exists()
    assert not EvalExample.objects.exists()


def test_the_command_imports_and_refuses_likewise(result_files, tmp_path, capsys):
    _, _, rows, _ = result_files
    call_command("import_eval", str(rows))  # the metrics file is found next to the results
    assert "rule_baseline on set" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_eval", str(tmp_path / "missing.jsonl"))


def test_designers_cannot_import(client, designer, result_files):
    _, _, rows, metrics = result_files
    client.force_login(designer)
    assert upload(client, rows.read_bytes(), metrics.read_bytes()).status_code == 403
