"""Labelled real requests (issue 14, Build 2): assigned to training or the field set by a hash of the text, the
field set content-hashed and versioned, the dev set loaded into it, training rows handed out once, and the
engineers' import page."""

import html
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipeline.data.jsonl import read_jsonl
from pipeline.tasks.hidden_params import AXES
from pipeline.tasks.registry import DEFAULT_TASK, get_task
from webapp.datasets import field
from webapp.datasets.models import Dataset, FrozenEvalSet, LabelledRequest
from webapp.playground.models import Correction, PlaygroundRequest

pytestmark = pytest.mark.django_db
TASK = get_task(DEFAULT_TASK)
FOUR_CLASS = "four_class"
VALUES = {"energy": 5, "warmth": 90, "brightness": 20, "acousticness": 95, "complexity": 10, "nostalgia": 80}
FIELD_TEXT = "soft piano for a snowy village at dawn"  # assign(): field at the default share 0.5
FIELD_TEXT_2 = "cold glitchy synths for the space station"  # field
TRAIN_TEXT = "pounding drums for the final boss"  # train
TRAIN_TEXT_2 = "warm acoustic guitar by the campfire"  # train
ENERGY_HIGH = {"constraints": [{"axis": "energy", "direction": "high"}]}


def test_the_texts_of_these_tests_land_where_they_say():
    assert [field.assign(t) for t in (FIELD_TEXT, FIELD_TEXT_2)] == ["field", "field"]
    assert [field.assign(t) for t in (TRAIN_TEXT, TRAIN_TEXT_2)] == ["train", "train"]


def test_assignment_is_deterministic_ignores_case_and_spacing_and_splits_about_half():
    assert field.assign(FIELD_TEXT) == field.assign("  Soft PIANO, for a snowy village at dawn! ")
    texts = [f"request number {n} for a calm level" for n in range(2000)]
    sides = [field.assign(text) for text in texts]
    assert sides == [field.assign(text) for text in texts]
    assert 0.45 < sides.count("field") / len(sides) < 0.55


def test_the_share_comes_from_settings(settings):
    settings.FTLOOP_FIELD_SHARE = 0.0
    assert field.assign(FIELD_TEXT) == "train"
    settings.FTLOOP_FIELD_SHARE = 1.0
    assert field.assign(TRAIN_TEXT) == "field"


def test_a_label_is_stored_by_hash_and_a_later_label_replaces_it(engineer):
    first = field.label_request(TASK, FIELD_TEXT, VALUES, language="en", origin="correction", user=engineer)
    assert first.assigned == "field" and first.answer == VALUES and first.text_hash == field.text_hash(FIELD_TEXT)
    again = field.label_request(DEFAULT_TASK, FIELD_TEXT.upper(), ENERGY_HIGH, language="en", origin="import")
    assert again.pk == first.pk and LabelledRequest.objects.count() == 1
    again.refresh_from_db()
    assert again.answer == ENERGY_HIGH and again.origin == "import" and again.created_by == engineer
    other_task = field.label_request(FOUR_CLASS, FIELD_TEXT, "ALLOW", language="en", origin="correction")
    assert other_task.pk != first.pk and LabelledRequest.objects.count() == 2


def test_bad_labels_and_texts_are_refused():
    for text, answer in ((FIELD_TEXT, {**VALUES, "energy": 140}), (FIELD_TEXT, {"constraints": []}),
                         ("bad \x00 text", VALUES), ("   ", VALUES)):
        with pytest.raises(ValueError):
            field.label_request(TASK, text, answer, language="en", origin="import")
    with pytest.raises(ValueError):
        field.label_request(FOUR_CLASS, TRAIN_TEXT, "MAYBE", language="en", origin="import")
    assert not LabelledRequest.objects.exists()


def test_an_override_wins_and_a_text_keeps_its_side():
    request = field.label_request(TASK, TRAIN_TEXT, VALUES, language="en", origin="dev set", assigned="field")
    assert request.assigned == "field"
    relabelled = field.label_request(TASK, TRAIN_TEXT, ENERGY_HIGH, language="en", origin="correction")
    assert relabelled.assigned == "field"  # never moves to training by itself once it is a yardstick


def test_training_requests_hand_out_train_rows_once_and_again_on_a_rerun():
    for text in (TRAIN_TEXT, TRAIN_TEXT_2, FIELD_TEXT):
        field.label_request(TASK, text, VALUES, language="en", origin="correction")
    field.label_request(FOUR_CLASS, TRAIN_TEXT, "DENY", language="en", origin="correction")
    first, second = Dataset.objects.create(name="c1"), Dataset.objects.create(name="c2")
    rows = field.training_requests(TASK, first)
    assert [row["request_text"] for row in rows] == [TRAIN_TEXT, TRAIN_TEXT_2]
    assert rows[0]["target"] == VALUES and rows[0]["teacher"] == "labelled:correction"
    assert rows[0]["id"].startswith("l0") and rows[0]["constraints"]
    assert set(LabelledRequest.objects.filter(task_type=DEFAULT_TASK, used_in_dataset=first)
               .values_list("text", flat=True)) == {TRAIN_TEXT, TRAIN_TEXT_2}
    assert field.training_requests(TASK, first) == rows  # a re-run of the same dataset gets them again
    assert field.training_requests(TASK, second) == []  # the next dataset gets only new ones
    field.label_request(TASK, TRAIN_TEXT, {**VALUES, "energy": 99}, language="en", origin="correction")
    relabelled = field.training_requests(TASK, second)
    assert [row["target"]["energy"] for row in relabelled] == [99]  # a changed answer is offered again
    four_class = field.training_requests(FOUR_CLASS, second)
    assert [(row["text"], row["answer"], row["origin"]) for row in four_class] == [
        (TRAIN_TEXT, "DENY", "labelled:correction")]


def test_the_field_set_is_frozen_by_content_and_versioned(data_dir):
    assert field.field_set(TASK) is None
    field.label_request(TASK, FIELD_TEXT, VALUES, language="en", origin="correction")
    field.label_request(TASK, TRAIN_TEXT, VALUES, language="en", origin="correction")  # training: not in it
    v1 = field.field_set(TASK)
    assert (v1.kind, v1.version, v1.size, v1.task_type) == ("field", 1, 1, DEFAULT_TASK)
    assert field.field_set(TASK).pk == v1.pk  # the same rows: the same set
    rows = read_jsonl(v1.path)
    assert rows == [{"request_text": FIELD_TEXT, "language": "en", "target": VALUES,
                     "constraints": TASK.labelled_row(FIELD_TEXT, VALUES, language="en", row_id="x",
                                                      origin="x")["constraints"]}]
    field.label_request(TASK, FIELD_TEXT_2, ENERGY_HIGH, language="en", origin="import")
    v2 = field.field_set(TASK)
    assert (v2.version, v2.size) == (2, 2) and v2.content_hash != v1.content_hash
    assert read_jsonl(v2.path)[1] == {"request_text": FIELD_TEXT_2, "language": "en", "target": None,
                                      "constraints": ENERGY_HIGH["constraints"]}
    assert field.field_set(TASK).content_hash == v2.content_hash
    assert field.latest_field_set(TASK) == v2
    field.label_request(FOUR_CLASS, FIELD_TEXT, "ALLOW", language="en", origin="correction")
    other = field.field_set(FOUR_CLASS)
    assert (other.task_type, other.version) == (FOUR_CLASS, 1)  # versions count per task type
    assert FrozenEvalSet.objects.filter(kind="field").count() == 3


def test_the_dev_set_loads_into_the_field_idempotently():
    dev_rows = TASK.field_dev_rows()
    assert len(dev_rows) >= 200 and all(row["target"] is None and row["constraints"] for row in dev_rows)
    assert field.load_dev_set(TASK) == len(dev_rows)
    assert field.load_dev_set(TASK) == len(dev_rows)
    stored = LabelledRequest.objects.filter(task_type=DEFAULT_TASK)
    assert stored.count() == len(dev_rows) and set(stored.values_list("assigned", flat=True)) == {"field"}
    assert set(stored.values_list("origin", flat=True)) == {"dev set"}
    frozen = field.field_set(TASK)
    assert frozen.size == len(dev_rows) and field.field_set(TASK).pk == frozen.pk
    languages = {row["language"] for row in read_jsonl(frozen.path)}
    assert languages == {"en", "ja"}
    assert field.load_dev_set(FOUR_CLASS) == 0 and field.field_set(FOUR_CLASS) is None


# -- the playground's corrections -------------------------------------------------------


@pytest.fixture
def designer_client(client, designer):
    client.force_login(designer)
    return client


def answered(user, text):
    return PlaygroundRequest.objects.create(
        text=text, model_specs=["rule_baseline"], created_by=user,
        results=[{"spec": "rule_baseline", "label": "rule baseline", "raw": "{}", "valid": True, "latency_ms": 0.2,
                  "parsed": dict.fromkeys(AXES, 50), "display": [[axis, 50] for axis in AXES]}])


def test_a_correction_is_labelled_into_the_field_set_or_training(designer_client, designer):
    to_field, to_train = answered(designer, FIELD_TEXT), answered(designer, TRAIN_TEXT)
    said = designer_client.post(reverse("playground_correct", args=[to_field.pk]),
                                {"model_label": "rule baseline", "verdict": "bad", **VALUES}).content.decode()
    assert "Saved" in said and "field set (version 1, 1 requests)" in said and 'data-assigned="field"' in said
    said = designer_client.post(reverse("playground_correct", args=[to_train.pk]),
                                {"model_label": "rule baseline", "verdict": "good",
                                 **dict.fromkeys(AXES, 50)}).content.decode()
    assert "added to training data" in said and 'data-assigned="train"' in said
    labelled = {r.text: r for r in LabelledRequest.objects.all()}
    assert labelled[FIELD_TEXT].answer == VALUES and labelled[FIELD_TEXT].origin == "correction"
    assert labelled[FIELD_TEXT].created_by == designer
    assert labelled[TRAIN_TEXT].assigned == "train" and labelled[TRAIN_TEXT].answer == dict.fromkeys(AXES, 50)
    assert Correction.objects.count() == 2  # the spot-check records stay


def test_a_bad_verdict_without_an_answer_is_only_a_spot_check(designer_client, designer):
    four_class = PlaygroundRequest.objects.create(
        task_type=FOUR_CLASS, text=FIELD_TEXT, model_specs=["rule_baseline"], created_by=designer,
        results=[{"spec": "rule_baseline", "label": "rule baseline", "raw": "ALLOW", "valid": True,
                  "latency_ms": 0.1, "parsed": "ALLOW", "display": [["label", "ALLOW"]]}])
    said = designer_client.post(reverse("playground_correct", args=[four_class.pk]),
                                {"model_label": "rule baseline", "verdict": "bad", "label": ""}).content.decode()
    assert said == "Saved, thank you." and not LabelledRequest.objects.exists()


# -- the engineers' import page ---------------------------------------------------------


def upload(lines, name="labelled.jsonl"):
    content = "\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False) for line in lines)
    return SimpleUploadedFile(name, content.encode("utf-8"), content_type="application/jsonl")


def test_the_import_page_is_for_engineers(client, designer):
    client.force_login(designer)
    assert client.get(reverse("labelled_import")).status_code == 403
    page = client.get(reverse("field_sets"))
    assert page.status_code == 200 and "Field sets" in page.content.decode()


def test_an_import_labels_each_line_and_reports_where_they_went(engineer_client, engineer):
    lines = [{"request_text": FIELD_TEXT, "language": "en", **VALUES},
             {"request_text": TRAIN_TEXT, "target": VALUES},
             {"request_text": FIELD_TEXT_2, "language": "en", **ENERGY_HIGH},
             {"request_text": TRAIN_TEXT_2, **ENERGY_HIGH}]
    response = engineer_client.post(reverse("labelled_import"), {"task": DEFAULT_TASK, "file": upload(lines)},
                                    follow=True)
    page = response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("labelled_import")
    assert "Imported 4 labelled requests of hidden_params: 2 to training, 2 to the field set." in page
    frozen = FrozenEvalSet.objects.get(kind="field")
    assert f"version 1 (2 requests, {frozen.content_hash[:12]})" in page
    assert f'data-task="{DEFAULT_TASK}" data-version="1"' in page
    stored = {r.text: r for r in LabelledRequest.objects.all()}
    assert {text: r.assigned for text, r in stored.items()} == {
        FIELD_TEXT: "field", TRAIN_TEXT: "train", FIELD_TEXT_2: "field", TRAIN_TEXT_2: "train"}
    assert stored[TRAIN_TEXT_2].answer == ENERGY_HIGH and stored[FIELD_TEXT].answer == VALUES
    assert {r.origin for r in stored.values()} == {"import"} and stored[FIELD_TEXT].created_by == engineer

    text = "bright chiptune for the shop screen"  # field; four_class's own row format
    engineer_client.post(reverse("labelled_import"), {"task": FOUR_CLASS, "file": upload(
        [{"text": text, "label": "ALLOW"}])})
    assert LabelledRequest.objects.get(task_type=FOUR_CLASS).answer == "ALLOW"
    assert FrozenEvalSet.objects.get(kind="field", task_type=FOUR_CLASS).version == 1


def test_a_bad_line_is_named_and_nothing_is_stored(engineer_client):
    lines = [{"request_text": FIELD_TEXT, **VALUES},
             {"request_text": TRAIN_TEXT, **VALUES, "energy": 140},
             "{not json",
             {"request_text": FIELD_TEXT_2, "constraints": [{"axis": "tempo", "direction": "high"}]},
             {"request_text": TRAIN_TEXT_2, "constraints": []}]
    response = engineer_client.post(reverse("labelled_import"), {"task": DEFAULT_TASK, "file": upload(lines)})
    page = html.unescape(response.content.decode())
    assert response.status_code == 200
    for number, problem in ((2, "energy must be between 0 and 100"), (3, "not valid JSON"),
                            (4, "constraint 1: axis must be one of"), (5, '"constraints" must be a non-empty list')):
        assert f"Line {number}: {problem}" in page, number
    assert "Line 1:" not in page and "Nothing was imported." in page
    assert not LabelledRequest.objects.exists() and not FrozenEvalSet.objects.exists()


def test_an_upload_over_the_limit_is_refused(engineer_client, settings):
    settings.FTLOOP_MAX_UPLOAD_BYTES = 1024
    lines = [{"request_text": f"{FIELD_TEXT} {n}", **VALUES} for n in range(40)]
    page = engineer_client.post(reverse("labelled_import"), {"task": DEFAULT_TASK, "file": upload(lines)})
    assert "the limit is 1.0\xa0KB" in page.content.decode() and not LabelledRequest.objects.exists()


def test_the_import_needs_the_csrf_token(engineer):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post(reverse("labelled_import"), {"task": DEFAULT_TASK, "file": upload([{"x": 1}])})
    assert response.status_code == 403 and not LabelledRequest.objects.exists()


def test_the_evaluate_stage_scores_the_dev_field_set_labelled_with_directions_only(data_dir, engineer_client):
    """The main job's first field-set evaluation: rows without a six-value target are stored (target None, the
    directional error), scored by directional accuracy, and shown on the run and comparison pages."""
    from webapp.runs.models import StageRun
    from workers import tasks

    field.load_dev_set(TASK)
    field_set = field.field_set(TASK)
    dataset = Dataset.objects.create(name="d", task_type=DEFAULT_TASK)
    run = StageRun.objects.create(kind=StageRun.Kind.EVALUATE, dataset=dataset,
                                  params={"predictor": "rule_baseline", "eval_set_id": field_set.pk})
    tasks.evaluate(run.pk)
    run.refresh_from_db()
    assert run.status == StageRun.Status.SUCCESS, run.error
    metrics = run.result["metrics"]
    assert metrics["n_examples"] == field_set.size and metrics["vector_mae"] is None
    assert 0.5 < metrics["directional_accuracy/en"] < 1 and 0.5 < metrics["directional_accuracy/ja"] < 1
    examples = run.eval_examples.all()
    assert examples.count() == field_set.size and not examples.exclude(target=None).exists()
    assert examples.filter(abs_error__gt=0).exists()
    page = engineer_client.get(reverse("run_detail", args=[run.pk]))
    assert page.status_code == 200
    worst = examples.order_by("-abs_error", "index").first()
    compared = engineer_client.get(reverse("compare") + f"?runs={run.pk}")  # the worst examples' table
    assert compared.status_code == 200 and html.escape(worst.request_text) in compared.content.decode()
    data = engineer_client.get(reverse("compare_data") + f"?runs={run.pk}")
    assert data.status_code == 200
