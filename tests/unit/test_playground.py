"""Playground forms, spot-check corrections and their way into the next cycle's training data."""

import json

import pytest
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl
from pipeline.tasks.hidden_params import AXES
from webapp.playground.models import Correction, PlaygroundRequest
from webapp.runs import loops
from webapp.runs.models import StageRun
from workers import tasks

pytestmark = pytest.mark.django_db
CORRECTED = {"energy": 5, "warmth": 90, "brightness": 20, "acousticness": 95, "complexity": 10, "nostalgia": 80}


@pytest.fixture
def designer_client(client, designer):
    client.force_login(designer)
    return client


@pytest.fixture
def answered(designer):
    return PlaygroundRequest.objects.create(
        text="a sleepy lullaby on an old upright piano", model_specs=["rule_baseline"], created_by=designer,
        results=[{"spec": "rule_baseline", "label": "rule baseline", "raw": "{}", "valid": True, "latency_ms": 0.2,
                  "values": dict.fromkeys(AXES, 50)}],
    )


def test_the_playground_requires_login(client):
    assert client.get(reverse("playground"))["Location"].startswith(reverse("login"))


def test_designers_see_the_playground_but_cannot_start_runs(designer_client):
    page = designer_client.get(reverse("playground")).content.decode()
    assert 'name="text"' in page and "rule baseline" in page and 'maxlength="500"' in page
    assert designer_client.get(reverse("dataset_new")).status_code == 403


def test_requests_are_length_limited(designer_client):
    response = designer_client.post(reverse("playground"), {"text": "x" * 501, "models": ["rule_baseline"]})
    assert "text" in response.context["form"].errors
    assert not PlaygroundRequest.objects.exists()


def test_a_correction_stores_who_what_and_the_values(designer_client, designer, answered):
    response = designer_client.post(reverse("playground_correct", args=[answered.pk]),
                                    {"model_label": "rule baseline", "verdict": "bad", "note": "too busy", **CORRECTED})
    assert response.status_code == 200
    correction = Correction.objects.get()
    assert correction.created_by == designer and correction.corrected == CORRECTED
    assert correction.predicted == dict.fromkeys(AXES, 50) and correction.language == "en"


def test_out_of_range_corrections_are_refused(designer_client, answered):
    response = designer_client.post(reverse("playground_correct", args=[answered.pk]),
                                    {"model_label": "rule baseline", "verdict": "bad", **CORRECTED, "energy": 140})
    assert response.status_code == 400 and "energy" in response.content.decode()
    assert not Correction.objects.exists()


def test_corrections_are_listed_filtered_and_exported(designer_client, designer, answered):
    Correction.objects.create(request=answered, model_label="rule baseline", language="en", verdict="bad",
                              corrected=CORRECTED, created_by=designer)
    Correction.objects.create(request=answered, model_label="rule baseline", language="en", verdict="good",
                              predicted=dict.fromkeys(AXES, 50), created_by=designer)
    page = designer_client.get(reverse("corrections") + "?verdict=bad").content.decode()
    assert page.count('class="badge status-failure"') == 1
    export = designer_client.get(reverse("corrections") + "?format=jsonl").content.decode().splitlines()
    assert sorted(json.loads(line)["target"]["energy"] for line in export) == [5, 50]


def test_a_correction_reaches_the_next_cycles_training_data(designer_client, answered, redis_url, data_dir):
    designer_client.post(reverse("playground_correct", args=[answered.pk]),
                         {"model_label": "rule baseline", "verdict": "bad", **CORRECTED})
    loop = loops.start_loop(name="l", cycles=1, data={"size": 60, "seed": 0, "language": "en", "teacher": "template"},
                            training={"model_name": "unused"})
    cycle = loop.cycle_set.get()
    for kind in ("generate", "filter", "split"):
        getattr(tasks, kind)(StageRun.objects.get(cycle=cycle, kind=kind).pk)
    train = read_jsonl(cycle.dataset.directory / "train.jsonl")
    rows = [row for row in train if row["request_text"] == answered.text]
    assert len(rows) == 1 and rows[0]["target"] == CORRECTED and rows[0]["teacher"] == "correction"
    chat = read_jsonl(cycle.dataset.directory / "chat_train.jsonl")
    assert any(line["messages"][1]["content"] == answered.text for line in chat)
    test_texts = {row["request_text"] for row in read_jsonl(cycle.dataset.directory / "test.jsonl")}
    assert answered.text not in test_texts
    assert Correction.objects.get().used_in_dataset == cycle.dataset


def test_only_six_parameter_runs_with_a_model_are_offered(designer_client, monkeypatch):
    from webapp.datasets.models import Dataset
    from webapp.playground.inference import model_choices

    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    flagship = Dataset.objects.create(name="music")
    safety = Dataset.objects.create(name="safety", task_type="four_class")
    done = {"kind": StageRun.Kind.TRAIN, "status": StageRun.Status.SUCCESS}
    adapter = StageRun.objects.create(dataset=flagship, result={"adapter_dir": "/a"}, params={"model_name": "m"}, **done)
    remote = StageRun.objects.create(dataset=flagship, result={"fine_tuned_model": "ft:ministral-3b-latest:x"}, **done)
    StageRun.objects.create(dataset=flagship, result={}, **done)  # finished without a model
    StageRun.objects.create(dataset=safety, result={"adapter_dir": "/b"}, **done)
    specs = [spec for spec, _ in model_choices()]
    assert specs == ["rule_baseline", "prompt_baseline", f"run:{remote.pk}", f"run:{adapter.pk}"]
    monkeypatch.setenv("MISTRAL_API_KEY", "k" * 12)
    assert "remote:mistral-small-latest" in [spec for spec, _ in model_choices()]
