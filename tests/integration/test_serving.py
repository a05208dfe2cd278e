"""Models you can ship (issue 15) through real workers: training runs become models, promote -> the API answers
from that model, roll back -> from the previous one, a revoked token gets 401, no release gets 503; an ONNX int8
export of a head passes its parity check and then answers the API."""

import json
import re

import pytest
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl
from pipeline.eval.predictors import build_predictor
from pipeline.tasks.registry import get_task
from tests.conftest import wait_for
from tests.tiny_model import make_tiny_llama
from webapp.datasets.services import start_data_cycle
from webapp.runs import training
from webapp.runs.models import StageRun
from webapp.serving import exports, releases, tokens
from webapp.serving.models import RegisteredModel

pytestmark = pytest.mark.integration
Status = StageRun.Status
TEXT = "soft piano for a quiet snowy village at night"


@pytest.fixture
def two_heads(start_worker, tmp_path):
    """Two regression heads of the six-parameter task, trained by a real worker on one split dataset."""
    start_worker()
    dataset = start_data_cycle(size=200, seed=9, language="en")
    wait_for(lambda: dataset.runs.filter(status=Status.SUCCESS).count() == 4, timeout=120, message="data stages")
    dataset.refresh_from_db()
    base = str(make_tiny_llama(tmp_path / "tiny", [row["request_text"]
                                                   for row in read_jsonl(dataset.directory / "train.jsonl")]))
    runs = [training.start_training(dataset, {"trainer": "reg_head", "model_name": base, "max_steps": steps,
                                              "learning_rate": 2e-2, "batch_size": 8, "lora_r": 8, "eval_steps": 50,
                                              "seed": seed}, evaluate=False)
            for steps, seed in ((20, 1), (6, 2))]
    wait_for(lambda: all(StageRun.objects.get(pk=run.pk).is_finished for run in runs), timeout=300,
             message="training")
    for run in runs:
        run.refresh_from_db()
        assert run.status == Status.SUCCESS, run.error
    return dataset, [RegisteredModel.objects.get(source_run=run) for run in runs]


def call(client, key, path="/api/v1/hidden_params/predict", **body):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return client.post(path, body or {"text": TEXT}, content_type="application/json", **headers)


def direct_answer(model):
    task = get_task(model.task_type)
    return task.parse(build_predictor(task, "fine_tuned", model_name=model.base_model,
                                      adapter=model.artifact).predict([TEXT])[0].raw)


def test_promote_rollback_revoke_and_no_release_through_the_api(client, engineer, two_heads):
    _, (first, second) = two_heads
    assert first.trainer == "reg_head" and first.train_data_hash and first.base_model
    token, key = tokens.create_token("game build 7", engineer)

    # No release: 503, in JSON.
    response = call(client, key)
    assert response.status_code == 503 and "no model is in service" in response.json()["detail"]

    releases.promote(first, "first head", user=engineer)
    response = call(client, key)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["model"] == first.name and body["valid"] is True and body["answer"] == direct_answer(first)

    releases.promote(second, "second head", user=engineer)
    assert call(client, key).json()["answer"] == direct_answer(second) != direct_answer(first)

    rolled = releases.rollback("hidden_params", "the second head is worse", user=engineer)
    assert rolled.model == first and rolled.action == "rollback"
    assert call(client, key).json()["model"] == first.name
    with pytest.raises(ValueError, match="no earlier release"):
        releases.rollback("hidden_params", "again", user=engineer)

    batch = call(client, key, "/api/v1/hidden_params/predict/batch", texts=[TEXT, "loud drums"])
    assert batch.status_code == 200 and [a["text"] for a in batch.json()["answers"]] == [TEXT, "loud drums"]

    # Bad input: JSON errors that name the field; never HTML.
    empty = call(client, key, text="")
    assert empty.status_code == 400 and empty.json()["errors"][0]["field"] == "text"
    unknown = call(client, key, "/api/v1/nope/predict")
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "task"
    assert client.get("/api/v1/nothing-here").json()["detail"].startswith("no API endpoint")
    huge = client.post("/api/v1/hidden_params/predict", '{"text": "' + "x" * 70_000 + '"}',
                       content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}")
    assert huge.status_code == 413 and huge["Content-Type"].startswith("application/json")

    # Tokens: none, unknown, revoked -> 401; over the rate -> 429.
    assert call(client, None).status_code == 401
    assert call(client, "ftl_not-a-key").status_code == 401
    token.revoke()
    assert call(client, key).status_code == 401
    _, slow_key = tokens.create_token("rate-limited", engineer, rate_per_minute=2)
    assert [call(client, slow_key).status_code for _ in range(3)] == [200, 200, 429]

    # The audit list.
    page = client.get(reverse("releases"))
    assert page.status_code == 302  # login first
    client.force_login(engineer)
    history = client.get(reverse("releases")).content.decode()
    assert "the second head is worse" in history and "first head" in history


def test_an_onnx_export_passes_parity_and_answers_the_api(client, engineer, two_heads):
    _, (first, _) = two_heads
    run = exports.start_export(first, exports.ONNX_INT8, user=engineer)
    wait_for(lambda: StageRun.objects.get(pk=run.pk).is_finished, timeout=300, message="the export")
    run.refresh_from_db()
    assert run.status == Status.SUCCESS, run.error
    assert run.result["parity"]["passed"] is True, run.result["parity"]
    release = releases.promote(first, "exported head", user=engineer)
    assert release.export_run == run
    _, key = tokens.create_token("game", engineer)
    body = call(client, key).json()
    assert body["valid"] is True and body["model"] == first.name
    client.force_login(engineer)
    page = client.get(reverse("model_detail", args=[first.pk])).content.decode()
    assert ".onnx" in page and exports.CARD_NAME in page
    card = client.get(reverse("export_download", args=[run.pk, exports.CARD_NAME]))
    card = json.loads(b"".join(card.streaming_content))
    assert card["parity"]["passed"] is True and card["runtime_versions"]["onnxruntime"]
    assert {file["name"] for file in card["files"]} >= {"model.int8.onnx"}


def test_the_main_job_ships_a_passing_cycle_and_its_curl_call_gets_an_answer(live_server, engineer, two_heads,
                                                                              capsys):
    from webapp.launch import ship_if_passed
    from webapp.runs.models import Cycle, Loop

    dataset, (first, _) = two_heads
    loop = Loop.objects.create(name="shipped", cycles=1)
    cycle = Cycle.objects.create(loop=loop, index=0, dataset=dataset, completed=True, verdicts=[
        {"criterion": {"key": "json_valid_rate"}, "passed": True, "reason": "1 >= 0.98"}])
    StageRun.objects.filter(pk=first.source_run_id).update(cycle=cycle)
    verdict = StageRun.objects.create(kind=StageRun.Kind.VERDICT, status=Status.SUCCESS, cycle=cycle, dataset=dataset,
                                      result={"passed": True, "verdicts": cycle.verdicts})

    assert ship_if_passed(loop, engineer, live_server.url + "/", lambda: None) is True
    release = releases.in_service("hidden_params")
    assert release.model == first and release.verdict_run == verdict
    assert release.export_run and release.export_run.result["parity"]["passed"] is True
    out = capsys.readouterr().out
    assert "curl -s -X POST -H 'Authorization: Bearer ftl_" in out and "/api/v1/hidden_params/predict" in out
    answer = out.split("  -> ", 1)[1]
    assert '"valid": true' in answer and f'"release": {release.pk}' in answer


def test_the_dashboard_and_the_playground_show_the_model_in_service(client, engineer, two_heads):
    _, (first, _) = two_heads
    client.force_login(engineer)
    assert "No model is in service yet" in client.get(reverse("dashboard")).content.decode()
    releases.promote(first, "for the designers", user=engineer)
    dashboard = client.get(reverse("dashboard")).content.decode()
    assert first.name in dashboard and reverse("model_detail", args=[first.pk]) in dashboard
    playground = client.get(reverse("playground")).content.decode()
    assert "★ in service · " in playground
    assert re.search(rf'value="{first.spec}"[^>]*checked', playground)  # ticked by default


def test_an_outside_base_model_is_evaluated_and_is_model_a_of_an_ab_test(client, engineer, two_heads, tmp_path):
    dataset, (first, _) = two_heads
    client.force_login(engineer)
    refused = client.post(reverse("model_add_base"), {"task": "hidden_params", "model_name": "/etc"})
    assert refused.status_code == 400 and "is not a model ftloop loads" in refused.content.decode()
    client.post(reverse("model_add_base"), {"task": "hidden_params", "model_name": first.base_model})
    base = RegisteredModel.objects.get(kind=RegisteredModel.Kind.BASE)
    assert base.spec == f"base:{first.base_model}"
    frozen = dataset.frozen_eval_set
    for model in (base, first):
        response = client.post(reverse("model_evaluate", args=[model.pk]), {"eval_set": frozen.pk, "baselines": ""})
        assert response.status_code == 302
    runs = StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, params__model_id__in=[base.pk, first.pk])
    assert sorted(run.params["predictor"] for run in runs) == ["fine_tuned", "prompt_baseline"]
    wait_for(lambda: all(StageRun.objects.get(pk=run.pk).is_finished for run in runs), timeout=300,
             message="the evaluations")
    run_a, run_b = runs.get(params__model_id=base.pk), runs.get(params__model_id=first.pk)
    assert run_a.status == run_b.status == Status.SUCCESS
    response = client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert f"model #{base.pk}" in page and f"model #{first.pk}" in page
