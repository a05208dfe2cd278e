"""One failing playground model never hides the others (issue #13 part 8): each answer or error on its own."""

import json

import pytest
from django.template.loader import render_to_string

from pipeline.tasks.hidden_params import AXES
from webapp.playground import inference
from webapp.playground.models import PlaygroundRequest
from webapp.playground.views import shown_results
from workers import tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def remote_down(monkeypatch):
    """Every model but the rule baseline fails as an unreachable remote service would."""
    real = inference.warm_model

    def warm_model(task, spec: str):
        if spec == "rule_baseline":
            return real(task, spec)
        raise ConnectionError(f"{spec} is unreachable")

    monkeypatch.setattr(inference, "warm_model", warm_model)


def test_a_failing_model_gets_its_error_and_the_others_their_answers(remote_down, designer):
    row = PlaygroundRequest.objects.create(text="calm piano for a rainy night", created_by=designer,
                                           model_specs=["remote:mistral-small-latest", "rule_baseline", "run:999"])
    tasks.predict_playground(row.pk)
    row.refresh_from_db()

    assert row.error == ""
    failed, rules, missing = row.results
    assert failed == {"spec": "remote:mistral-small-latest", "label": "remote:mistral-small-latest", "raw": "",
                      "parsed": None, "display": [], "valid": False, "latency_ms": None, "tokens_decoded": 0,
                      "error": "ConnectionError: remote:mistral-small-latest is unreachable"}
    assert rules["valid"] and set(rules["parsed"]) == set(AXES) and "error" not in rules
    assert missing["error"] == "ConnectionError: run:999 is unreachable"


def test_the_results_show_each_models_answer_or_error_on_its_own(remote_down, designer):
    row = PlaygroundRequest.objects.create(text="calm piano", created_by=designer,
                                           model_specs=["remote:mistral-small-latest", "rule_baseline"])
    row.results = inference.answer(row.task, row.text, row.model_specs)
    page = render_to_string("playground/_results.html", {
        "row": row, "results": shown_results(row.task, row.results), "results_json": json.dumps(row.results)})

    remote, rules = page.split('data-model="rule_baseline"')
    failure = "This model failed: ConnectionError: remote:mistral-small-latest is unreachable"
    assert f'data-testid="error">{failure}' in remote
    assert 'data-testid="raw"' not in remote and 'name="verdict"' not in remote
    assert 'data-testid="raw"' in rules and 'name="verdict"' in rules and "This model failed" not in rules
