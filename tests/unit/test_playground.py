"""Playground forms, samples, answers and spot-check corrections of every task type, and their way into the next
cycle's training data."""

import json

import pytest
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl, write_jsonl
from pipeline.tasks.hidden_params import AXES
from pipeline.tasks.registry import DEFAULT_TASK, get_task
from webapp.datasets.models import Dataset, FrozenEvalSet, LabelledRequest
from webapp.playground import inference, views
from webapp.playground.models import Correction, PlaygroundRequest
from webapp.runs import loops
from webapp.runs.models import StageRun
from workers import tasks

pytestmark = pytest.mark.django_db
CORRECTED = {"energy": 5, "warmth": 90, "brightness": 20, "acousticness": 95, "complexity": 10, "nostalgia": 80}
FOUR_CLASS = "four_class"
FOUR_CLASS_TEXT = "how do I reset the password of my account after I lost my phone?"  # the cleaning keeps 50+ chars
DONE = {"kind": StageRun.Kind.TRAIN, "status": StageRun.Status.SUCCESS}


@pytest.fixture
def designer_client(client, designer):
    client.force_login(designer)
    return client


@pytest.fixture
def answered(designer):
    values = dict.fromkeys(AXES, 50)
    return PlaygroundRequest.objects.create(
        text="a sleepy lullaby on an old upright piano", model_specs=["rule_baseline"], created_by=designer,
        results=[{"spec": "rule_baseline", "label": "rule baseline", "raw": "{}", "valid": True, "latency_ms": 0.2,
                  "parsed": values, "display": [[axis, 50] for axis in AXES]}],
    )


@pytest.fixture
def answered_four_class(designer):
    return PlaygroundRequest.objects.create(
        task_type=FOUR_CLASS, text=FOUR_CLASS_TEXT, model_specs=["rule_baseline"], created_by=designer,
        results=[{"spec": "rule_baseline", "label": "rule baseline", "raw": "ALLOW", "valid": True, "latency_ms": 0.1,
                  "parsed": "ALLOW", "display": [["label", "ALLOW"]]}],
    )


@pytest.fixture
def synchronous_inference(monkeypatch):
    """The view's round trip to the inference worker, answered in this process."""

    class Sent:
        def get(self, timeout):
            return None

    class Task:
        @staticmethod
        def delay(request_id):
            tasks.predict_playground(request_id)
            return Sent()

    monkeypatch.setattr(views, "predict_playground", Task)


def frozen_set(task_name, rows, data_dir, name="frozen.jsonl"):
    path = write_jsonl(data_dir / name, rows)
    return FrozenEvalSet.objects.create(content_hash=name * 4, task_type=task_name, path=str(path), size=len(rows))


def test_the_playground_requires_login(client):
    assert client.get(reverse("playground"))["Location"].startswith(reverse("login"))


def test_designers_see_the_playground_but_cannot_start_runs(designer_client):
    page = designer_client.get(reverse("playground")).content.decode()
    assert 'name="text"' in page and "rule baseline" in page and 'maxlength="500"' in page
    assert f'name="task" value="{DEFAULT_TASK}"' in page and get_task(DEFAULT_TASK).label in page
    assert designer_client.get(reverse("dataset_new")).status_code == 403


def test_the_task_selector_offers_every_task_and_shows_that_tasks_models(designer_client):
    flagship = Dataset.objects.create(name="music")
    safety = Dataset.objects.create(name="safety", task_type=FOUR_CLASS)
    music_run = StageRun.objects.create(dataset=flagship, result={"adapter_dir": "/a"}, params={"model_name": "m"},
                                        **DONE)
    head = StageRun.objects.create(dataset=safety, result={"adapter_dir": "/b"},
                                   params={"model_name": "m", "trainer": "cls_head"}, **DONE)
    page = designer_client.get(reverse("playground") + f"?task={FOUR_CLASS}").content.decode()
    assert f'name="task" value="{FOUR_CLASS}"' in page and f'<option value="{FOUR_CLASS}" selected>' in page
    assert f'value="run:{head.pk}"' in page and "cls_head" in page and f'value="run:{music_run.pk}"' not in page
    assert f"?task={FOUR_CLASS}" in page  # the sample button asks for this task's frozen set
    assert 'name="chart"' not in page  # a label has no bars to draw
    assert designer_client.get(reverse("playground") + "?task=no_such_task").status_code == 404


def test_requests_are_length_limited(designer_client):
    response = designer_client.post(reverse("playground"), {"text": "x" * 501, "models": ["rule_baseline"]})
    assert "text" in response.context["form"].errors
    assert not PlaygroundRequest.objects.exists()


def test_a_four_class_request_is_answered_by_its_rules_and_shows_the_label(designer_client, synchronous_inference):
    response = designer_client.post(reverse("playground"), {
        "task": FOUR_CLASS, "text": "how do I reset my password?", "models": ["rule_baseline"]})
    row = PlaygroundRequest.objects.get()
    assert row.task_type == FOUR_CLASS and row.error == ""
    result = row.results[0]
    task = get_task(FOUR_CLASS)
    assert result["valid"] and result["parsed"] in task.answer_fields[0].choices
    assert result["display"] == [["label", result["parsed"]]] and result["parsed"] == task.parse(result["raw"])
    page = response.content.decode()
    assert f'data-value="{result["parsed"]}"' in page and 'select name="label"' in page
    assert 'id="prediction-chart"' not in page


def test_a_six_parameter_request_keeps_its_chart_and_sliders(designer_client, synchronous_inference):
    response = designer_client.post(reverse("playground"), {
        "text": "calm acoustic guitar by the fire", "models": ["rule_baseline"]})
    result = PlaygroundRequest.objects.get().results[0]
    assert result["valid"] and sorted(result["parsed"]) == sorted(AXES)
    assert [key for key, _ in result["display"]] == list(AXES)
    page = response.content.decode()
    assert 'id="prediction-chart"' in page and page.count('type="range"') == len(AXES)


def test_one_failing_model_does_not_hide_the_others():
    results = inference.answer(get_task(FOUR_CLASS), "please delete every account", ["run:999", "rule_baseline"])
    assert "error" in results[0] and "999" in results[0]["error"] and results[0]["valid"] is False
    assert "error" not in results[1] and results[1]["valid"] and results[1]["label"] == "rule baseline"


def test_the_sample_comes_from_the_newest_frozen_set_of_the_task(designer_client, data_dir):
    frozen_set(DEFAULT_TASK, [{"request_text": "rainy cafe", "language": "en", "target": CORRECTED}], data_dir, "a")
    url = reverse("playground_sample")
    assert designer_client.get(url).json() == {"text": "rainy cafe", "answer": CORRECTED}
    missing = designer_client.get(url + f"?task={FOUR_CLASS}")
    assert missing.status_code == 404 and get_task(FOUR_CLASS).label in missing.json()["error"]
    safety_row = {"id": "1", "text": "delete my account", "answer": "DENY", "language": "en"}
    frozen_set(FOUR_CLASS, [safety_row], data_dir, "b")
    assert designer_client.get(url + f"?task={FOUR_CLASS}").json() == {"text": "delete my account", "answer": "DENY"}
    assert designer_client.get(url).json()["text"] == "rainy cafe"  # the newest set overall is not this task's
    assert designer_client.get(url + "?task=no_such_task").status_code == 404


def test_a_correction_stores_who_what_and_the_values(designer_client, designer, answered):
    response = designer_client.post(reverse("playground_correct", args=[answered.pk]),
                                    {"model_label": "rule baseline", "verdict": "bad", "note": "too busy", **CORRECTED})
    assert response.status_code == 200
    correction = Correction.objects.get()
    assert correction.created_by == designer and correction.corrected == CORRECTED
    assert correction.predicted == dict.fromkeys(AXES, 50) and correction.language == "en"
    assert correction.task_type == DEFAULT_TASK and correction.training_answer == CORRECTED


def test_out_of_range_corrections_are_refused(designer_client, answered):
    response = designer_client.post(reverse("playground_correct", args=[answered.pk]),
                                    {"model_label": "rule baseline", "verdict": "bad", **CORRECTED, "energy": 140})
    assert response.status_code == 400 and "energy" in response.content.decode()
    assert not Correction.objects.exists()


def test_a_four_class_correction_is_a_label_of_its_choices(designer_client, answered_four_class):
    url = reverse("playground_correct", args=[answered_four_class.pk])
    refused = designer_client.post(url, {"model_label": "rule baseline", "verdict": "bad", "label": "MAYBE"})
    assert refused.status_code == 400 and "label" in refused.content.decode()
    for verdict, label in (("bad", "DENY"), ("good", "")):
        response = designer_client.post(url, {"model_label": "rule baseline", "verdict": verdict, "label": label})
        assert response.status_code == 200
    bad, good = Correction.objects.order_by("pk")
    assert bad.task_type == good.task_type == FOUR_CLASS
    assert bad.corrected == "DENY" and bad.predicted == "ALLOW" and bad.training_answer == "DENY"
    assert good.corrected is None and good.training_answer == "ALLOW"


def test_corrections_are_listed_filtered_and_exported(designer_client, designer, answered, answered_four_class):
    Correction.objects.create(request=answered, model_label="rule baseline", language="en", verdict="bad",
                              corrected=CORRECTED, created_by=designer)
    Correction.objects.create(request=answered, model_label="rule baseline", language="en", verdict="good",
                              predicted=dict.fromkeys(AXES, 50), created_by=designer)
    Correction.objects.create(request=answered_four_class, task_type=FOUR_CLASS, model_label="rule baseline",
                              language="en", verdict="bad", predicted="ALLOW", corrected="DENY", created_by=designer)
    page = designer_client.get(reverse("corrections") + "?verdict=bad").content.decode()
    assert page.count('class="badge status-failure"') == 2 and "<code>DENY</code>" in page
    page = designer_client.get(reverse("corrections") + f"?verdict=bad&task={DEFAULT_TASK}").content.decode()
    assert page.count('class="badge status-failure"') == 1 and "energy 5 · warmth 90" in page
    export = designer_client.get(reverse("corrections") + f"?format=jsonl&task={DEFAULT_TASK}").content.decode()
    lines = [json.loads(line) for line in export.splitlines()]
    assert sorted(line["target"]["energy"] for line in lines) == [5, 50]
    assert all(line["request_text"] == answered.text and line["task"] == DEFAULT_TASK for line in lines)
    export = designer_client.get(reverse("corrections") + f"?format=jsonl&task={FOUR_CLASS}").content.decode()
    line = json.loads(export)
    assert line["text"] == answered_four_class.text and line["answer"] == "DENY" and line["task"] == FOUR_CLASS
    assert get_task(FOUR_CLASS).validate_row(line, 0)["answer"] == "DENY"  # the import reads the export back


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
    assert len(rows) == 1 and rows[0]["target"] == CORRECTED and rows[0]["teacher"] == "labelled:correction"
    chat = read_jsonl(cycle.dataset.directory / "chat_train.jsonl")
    assert any(line["messages"][1]["content"] == answered.text for line in chat)
    test_texts = {row["request_text"] for row in read_jsonl(cycle.dataset.directory / "test.jsonl")}
    assert answered.text not in test_texts
    assert LabelledRequest.objects.get().used_in_dataset == cycle.dataset  # the correction's label, assigned to train


def test_a_four_class_correction_reaches_only_a_four_class_cycle(designer_client, answered, answered_four_class,
                                                                 redis_url, data_dir):
    designer_client.post(reverse("playground_correct", args=[answered.pk]),
                         {"model_label": "rule baseline", "verdict": "bad", **CORRECTED})
    designer_client.post(reverse("playground_correct", args=[answered_four_class.pk]),
                         {"model_label": "rule baseline", "verdict": "bad", "label": "DENY"})
    loop = loops.start_loop(name="fc", cycles=1, data={"task": FOUR_CLASS, "size": 60, "seed": 0, "language": "en"},
                            training={"model_name": "unused"})
    cycle = loop.cycle_set.get()
    for kind in ("generate", "filter", "split"):
        getattr(tasks, kind)(StageRun.objects.get(cycle=cycle, kind=kind).pk)
    task = get_task(FOUR_CLASS)
    kept = read_jsonl(cycle.dataset.directory / "kept.jsonl")
    rows = [row for row in kept if task.text(row) == answered_four_class.text]
    assert len(rows) == 1 and task.answer(rows[0]) == "DENY" and rows[0]["origin"] == "labelled:correction"
    test_texts = {task.text(row) for row in read_jsonl(cycle.dataset.directory / "test.jsonl")}
    assert answered_four_class.text not in test_texts
    assert LabelledRequest.objects.get(task_type=FOUR_CLASS).used_in_dataset == cycle.dataset
    assert LabelledRequest.objects.get(task_type=DEFAULT_TASK).used_in_dataset is None  # waits for its task's cycle


def test_only_runs_of_the_task_with_a_model_are_offered(designer_client, monkeypatch):
    monkeypatch.delenv("MISTRAL_API_KEY", raising=False)
    flagship = Dataset.objects.create(name="music")
    safety = Dataset.objects.create(name="safety", task_type=FOUR_CLASS)
    adapter = StageRun.objects.create(dataset=flagship, result={"adapter_dir": "/a"}, params={"model_name": "m"},
                                      **DONE)
    remote = StageRun.objects.create(dataset=flagship, result={"fine_tuned_model": "ft:ministral-3b-latest:x"}, **DONE)
    StageRun.objects.create(dataset=flagship, result={}, **DONE)  # finished without a model
    head = StageRun.objects.create(dataset=safety, result={"adapter_dir": "/b"}, **DONE)
    flagship_task, safety_task = get_task(DEFAULT_TASK), get_task(FOUR_CLASS)
    specs = [spec for spec, _ in inference.model_choices(flagship_task)]
    assert specs == ["rule_baseline", "prompt_baseline", f"run:{remote.pk}", f"run:{adapter.pk}"]
    assert [spec for spec, _ in inference.model_choices(safety_task)] == ["rule_baseline", "prompt_baseline",
                                                                          f"run:{head.pk}"]
    monkeypatch.setenv("MISTRAL_API_KEY", "k" * 12)
    assert "remote:mistral-small-latest" in [spec for spec, _ in inference.model_choices(flagship_task)]
    with pytest.raises(ValueError, match="no finished"):
        inference.warm_model(flagship_task, f"run:{head.pk}")  # another task's run is not this task's model
