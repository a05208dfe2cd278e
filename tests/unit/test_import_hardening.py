"""Crafted import files (issue #13 part 5): every one is a line-numbered message, never a 500, and stores nothing."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from pipeline.data.importer import ImportFailed, parse_import, row_maker
from pipeline.tasks.hidden_params import AXES
from webapp.datasets.models import Dataset
from webapp.playground.models import PlaygroundRequest
from webapp.runs.models import StageRun

GOOD = json.dumps({"request_text": "Something calm and cozy for the tavern", **dict.fromkeys(AXES, 40)})
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/ftloop_harden"


def with_request_text(text: str) -> str:
    return json.dumps({"request_text": text, **dict.fromkeys(AXES, 40)})


CRAFTED = {
    "5000-digit integer": (GOOD[:-1] + ', "extra": ' + "9" * 5000 + "}", "an integer has too many digits"),
    "100k nested brackets": ("[" * 100_000, "nested more than 20 levels deep"),
    "NUL character": (with_request_text("calm\u0000piano"), "a control character (U+0000)"),
}


def problems(lines: list[str], task: str = "hidden_params") -> list[tuple[int, str]]:
    with pytest.raises(ImportFailed) as failed:
        parse_import(lines, make_row=row_maker(task))
    return failed.value.errors


@pytest.mark.parametrize("line, problem", [
    ("1" * 5000, "not valid JSON: an integer has too many digits"),
    ("[" * 100_000, "nested more than 20 levels deep"),
    ('{"a": ' * 30 + "1" + "}" * 30, "nested more than 20 levels deep"),
    ('{"request_text": NaN}', "not valid JSON: NaN is not a number JSON allows"),
    ('{"request_text": -Infinity}', "not valid JSON: -Infinity is not a number JSON allows"),
    ('{"request_text": 1e999}', "not valid JSON: the number 1e999 is too large"),
    (with_request_text("a\u0000b"), "a string holds a control character (U+0000) at position 2"),
    (with_request_text("bell\u0007"), "a string holds a control character (U+0007) at position 5"),
    ('{"request_text": "lone \\ud800 half"}', "a string holds a lone surrogate (U+D800) at position 6"),
    ('{"key\\u001b": 1}', "a string holds a control character (U+001B) at position 4"),
])
def test_it_names_the_line_and_the_problem_of_each_crafted_line(line, problem):
    assert problems([GOOD, line]) == [(2, problem)]


def test_tabs_newlines_and_a_byte_order_mark_are_accepted():
    rows = parse_import(["\ufeff" + with_request_text("calm\tpiano\r\nfor a rainy night")])
    assert rows[0]["request_text"] == "calm\tpiano\r\nfor a rainy night"
    assert len(parse_import([b"\xef\xbb\xbf" + GOOD.encode(), GOOD.encode()])) == 2


def test_a_byte_order_mark_after_the_first_line_is_refused():
    assert problems([GOOD, "\ufeff" + GOOD])[0][1].startswith("not valid JSON")


def test_every_task_type_imports_under_the_same_rules():
    good = json.dumps({"text": "a calm line", "label": "ALLOW"})
    bad = json.dumps({"text": "an ok line\u0000", "label": "ALLOW"})
    assert problems([good, bad], task="four_class") == [
        (2, "a string holds a control character (U+0000) at position 11")]


def upload(client, content: str) -> object:
    return client.post(reverse("dataset_import"),
                       {"name": "crafted", "file": SimpleUploadedFile("crafted.jsonl", content.encode())})


@pytest.mark.django_db
@pytest.mark.parametrize("crafted", CRAFTED)
def test_a_crafted_import_through_the_view_is_a_message_and_stores_nothing(engineer_client, data_dir, crafted):
    line, problem = CRAFTED[crafted]
    response = upload(engineer_client, "\n".join([GOOD, line, GOOD]))

    assert response.status_code == 200
    errors = response.context["form"].errors["file"]
    assert errors[0].startswith("Line 2: ") and problem in errors[0]
    assert errors[-1] == "Nothing was imported."
    assert not Dataset.objects.exists() and not StageRun.objects.exists()
    assert not (data_dir / "datasets").exists()
    assert connection.vendor == os.environ.get("EXPECTED_DATABASE_VENDOR", connection.vendor)


def postgres_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.mark.skipif(not postgres_reachable(), reason="no PostgreSQL on 127.0.0.1:5432")
def test_the_crafted_imports_are_refused_on_postgresql_too():
    """The view tests above, in a pytest of their own whose DATABASE_URL names PostgreSQL (trust auth)."""
    env = {**os.environ, "DATABASE_URL": POSTGRES_URL, "EXPECTED_DATABASE_VENDOR": "postgresql"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-k", "through_the_view", "-q", "-p", "no:cacheprovider",
         "--create-db"],
        cwd=Path(__file__).resolve().parents[2], env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0 and f"{len(CRAFTED)} passed" in result.stdout, result.stdout[-3000:]


@pytest.mark.django_db
def test_the_playground_refuses_control_characters(client, designer):
    client.force_login(designer)
    response = client.post(reverse("playground"), {"text": "calm \u0007 piano", "models": ["rule_baseline"]})
    assert response.context["form"].errors["text"] == ["The request holds a control character (U+0007) at position 6."]
    assert not PlaygroundRequest.objects.exists()
