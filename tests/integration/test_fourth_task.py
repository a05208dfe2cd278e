"""A task type defined only in the test suite (tests/tasks/sentiment) runs through the real web app and workers.

Adding a task type is one package and one registry line: here the line is FTLOOP_TASK_PACKAGES, set in this
process and in the worker processes the test starts. Nothing outside the package names the task, yet it goes
through a loop cycle (generate -> verdict), a playground answer, the comparison page and an A/B test of two
of its models.
"""

import pytest
from django.urls import reverse

from pipeline.tasks.registry import EXTRA_PACKAGES_ENV, get_task
from tests.conftest import wait_for
from tests.tiny_model import make_tiny_llama
from webapp.evals.models import ABTest
from webapp.playground.models import PlaygroundRequest
from webapp.runs.models import Cycle, Loop, StageRun

pytestmark = pytest.mark.integration
Status, Kind = StageRun.Status, StageRun.Kind


@pytest.fixture
def sentiment(monkeypatch):
    monkeypatch.setenv(EXTRA_PACKAGES_ENV, "sentiment=tests.tasks.sentiment")
    return get_task("sentiment")


def loop_finished(loop: Loop) -> bool | str:
    runs = StageRun.objects.filter(cycle__loop=loop)
    if runs.filter(status__in=(Status.FAILURE, Status.REVOKED)).exists():
        return "failed"
    return Cycle.objects.filter(loop=loop, completed=True).exists() and not runs.exclude(status=Status.SUCCESS).exists()


def test_a_task_defined_only_in_the_suite_runs_a_loop_the_playground_the_comparison_and_an_ab_test(
        sentiment, engineer_client, start_worker, tmp_path):
    start_worker()  # inherits FTLOOP_TASK_PACKAGES
    texts = [row["text"] for row in sentiment.generate(size=60, seed=0, language="en").rows] + list(sentiment.head_labels)
    base = str(make_tiny_llama(tmp_path / "tiny-sentiment", texts))

    # Every form offers it, from the registry.
    assert 'value="sentiment"' in engineer_client.get(reverse("loop_new")).content.decode()

    # One loop cycle from the form: generate -> filter -> split -> freeze -> train (head) -> evaluate x3 -> verdict.
    response = engineer_client.post(reverse("loop_new"), {
        "name": "sentiment loop", "task": "sentiment", "preset": "sentiment:head", "cycles": 1, "size": 90, "seed": 0,
        "language": "en", "model_name": base, "max_steps": 6, "batch_size": 8, "learning_rate": 0.005,
        "decode": "constrained"})
    loop = Loop.objects.get()
    assert response.status_code == 302, response.content.decode()[:2000]
    assert wait_for(lambda: loop_finished(loop), timeout=600, message="the sentiment loop") is True, [
        (run.kind, run.params.get("predictor"), run.error)
        for run in StageRun.objects.filter(cycle__loop=loop).exclude(status=Status.SUCCESS)]
    cycle = Cycle.objects.get(loop=loop)
    assert cycle.dataset.task_type == "sentiment" and cycle.dataset.frozen_eval_set.task_type == "sentiment"
    train = StageRun.objects.get(cycle=cycle, kind=Kind.TRAIN)
    assert train.params["trainer"] == "cls_head" and (train.directory / "adapter" / "cls_head.json").is_file()
    evals = {run.params["predictor"]: run for run in StageRun.objects.filter(cycle=cycle, kind=Kind.EVALUATE)}
    assert set(evals) == {"rule_baseline", "prompt_baseline", "fine_tuned"}
    assert evals["rule_baseline"].result["metrics"]["accuracy"] == 1.0  # the keyword rules fit the demo data
    assert all(run.result["task"] == "sentiment" for run in evals.values())
    assert len({run.result["provenance"]["eval_set_hash"] for run in evals.values()}) == 1
    verdicts = {verdict["criterion"]["key"]: verdict for verdict in cycle.verdicts}
    assert "beats_prompt_baseline_accuracy" in verdicts and verdicts["beats_prompt_baseline_accuracy"]["reason"]

    # The playground answers with the rules and the trained head, each shown as the task's label.
    response = engineer_client.post(reverse("playground"), {
        "task": "sentiment", "text": "I think the boss fight is awesome, played 3 rounds today.",
        "models": ["rule_baseline", f"run:{train.pk}"]})
    assert response.status_code == 200
    request = PlaygroundRequest.objects.get()
    assert request.task_type == "sentiment" and not request.error
    rules, head = request.results
    assert rules["parsed"] == "POSITIVE" and rules["display"] == [["label", "POSITIVE"]]
    assert "error" not in head and head["parsed"] in sentiment.head_labels

    # The comparison page draws the task's section from its metrics.
    page = engineer_client.get(reverse("compare") + f"?loop={loop.pk}").content.decode()
    assert 'data-task="sentiment"' in page
    [section] = engineer_client.get(reverse("compare_data") + f"?loop={loop.pk}").json()["tasks"]
    assert section["name"] == "sentiment" and section["metric_keys"][0] == "accuracy"
    assert {run["predictor"] for run in section["runs"]} == set(evals)

    # An A/B test of two of its models on the same frozen set: McNemar on right/wrong, with intervals.
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": evals["prompt_baseline"].pk,
                                                                "run_b": evals["fine_tuned"].pk})
    test = ABTest.objects.get()
    assert response["Location"] == reverse("ab_test_detail", args=[test.pk])
    assert test.result["task"] == "sentiment" and test.result["test"]["name"] == "mcnemar"
    assert test.result["n_examples"] == cycle.dataset.frozen_eval_set.size
    assert set(test.result["metrics"]) >= {"accuracy", "invalid_rate"}
    assert engineer_client.get(response["Location"]).status_code == 200
