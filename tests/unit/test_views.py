import json

import pytest
from django.test import Client
from django.urls import reverse

from pipeline.tasks.hidden_params import AXES
from webapp.datasets.models import Dataset
from webapp.runs.models import StageRun

pytestmark = pytest.mark.django_db
GOOD = json.dumps({"request_text": "Something calm and cozy for the tavern", **dict.fromkeys(AXES, 40)})


@pytest.mark.parametrize("name", ["dashboard", "dataset_new", "dataset_import"])
def test_pages_require_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_dataset_pages_require_login(client):
    dataset = Dataset.objects.create(name="d")
    for url in (reverse("dataset_detail", args=[dataset.pk]), reverse("dataset_stats", args=[dataset.pk])):
        assert client.get(url)["Location"].startswith(reverse("login"))


def test_designers_cannot_start_runs(client, designer):
    client.force_login(designer)
    assert client.get(reverse("dashboard")).status_code == 200
    assert client.post(reverse("dataset_new"), {"size": 100, "seed": 0, "language": "en", "teacher": "template"}).status_code == 403
    assert not Dataset.objects.exists()


def test_forms_are_csrf_protected(engineer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(engineer)
    response = client.post(reverse("dataset_new"), {"size": 100, "seed": 0, "language": "en", "teacher": "template"})
    assert response.status_code == 403 and not Dataset.objects.exists()
    page = client.get(reverse("dataset_new")).content.decode()
    assert 'name="csrfmiddlewaretoken"' in page


def test_bad_form_values_are_named_not_crashed(engineer_client):
    response = engineer_client.post(reverse("dataset_new"), {"size": 5, "seed": -1, "language": "fr", "teacher": "x"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"size", "seed", "language", "teacher"}
    assert not Dataset.objects.exists()


def upload(client, content: bytes, name="data.jsonl"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(reverse("dataset_import"), {"name": "imported", "file": SimpleUploadedFile(name, content)})


def test_a_malformed_line_is_named_and_nothing_is_stored(engineer_client, data_dir):
    existing = Dataset.objects.create(name="keep me")
    content = "\n".join([GOOD, GOOD, '{"request_text": "broken", "energy": 5', GOOD]).encode()
    response = upload(engineer_client, content)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Line 3: not valid JSON" in page and "Nothing was imported." in page
    assert list(Dataset.objects.all()) == [existing]
    assert not StageRun.objects.exists()
    assert not (data_dir / "datasets").exists()


def test_every_bad_line_is_reported_with_its_problem(engineer_client):
    bad_range = json.dumps({"request_text": "x", **dict.fromkeys(AXES, 50), "energy": 300})
    missing = json.dumps({"request_text": "x", "energy": 1})
    response = upload(engineer_client, "\n".join([bad_range, GOOD, missing]).encode())
    errors = response.context["form"].errors["file"]
    assert errors[0] == "Line 1: energy must be between 0 and 100, got 300"
    assert errors[1].startswith("Line 3: missing axes: warmth")
    assert not Dataset.objects.exists()


def test_uploads_over_the_limit_are_refused(engineer_client, settings):
    settings.FTLOOP_MAX_UPLOAD_BYTES = 1024
    response = upload(engineer_client, (GOOD + "\n").encode() * 40)
    assert "the limit is 1.0\xa0KB" in response.content.decode()
    assert not Dataset.objects.exists()


def test_a_clean_import_creates_the_dataset_and_queues_filter_split_freeze(engineer_client, redis_url, data_dir):
    response = upload(engineer_client, "\n".join([GOOD] * 3).encode())
    dataset = Dataset.objects.get()
    assert response.status_code == 302
    assert dataset.source == Dataset.Source.IMPORTED and dataset.params["size"] == 3
    assert [r.kind for r in StageRun.objects.order_by("sequence")] == ["filter", "split", "freeze"]
    assert (dataset.directory / "generated.jsonl").read_text().count("\n") == 3


def test_downloads_are_limited_to_known_files(engineer_client):
    dataset = Dataset.objects.create(name="d")
    dataset.directory.mkdir(parents=True)
    (dataset.directory / "secret.txt").write_text("no")
    assert engineer_client.get(reverse("dataset_download", args=[dataset.pk, "secret.txt"])).status_code == 404
    assert engineer_client.get(reverse("dataset_download", args=[dataset.pk, "train.jsonl"])).status_code == 404


def test_plotly_is_served_locally(engineer_client):
    dataset = Dataset.objects.create(name="d", stats={"counts": {"train": 1}})
    page = engineer_client.get(reverse("dataset_detail", args=[dataset.pk])).content.decode()
    assert "/static/vendor/plotly/plotly.min.js" in page and "cdn" not in page.lower()
    from django.contrib.staticfiles import finders

    assert finders.find("vendor/plotly/plotly.min.js")


def test_the_ui_speaks_japanese(engineer_client):
    engineer_client.post(reverse("set_language"), {"language": "ja", "next": "/"})
    page = engineer_client.get(reverse("dashboard")).content.decode()
    assert "データセット" in page
