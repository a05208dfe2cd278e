"""Secret values are redacted wherever a run writes something people read."""

import logging

import pytest

from webapp.datasets.models import Dataset
from webapp.runs import lifecycle, services
from webapp.runs.models import StageRun
from webapp.runs.reporting import RunReporter
from webapp.secrets import REDACTED, RedactingFilter, redact, secret

KEY = "sk-test-4f9a8b7c6d5e"


@pytest.fixture
def mistral_key(monkeypatch):
    monkeypatch.setenv("MISTRAL_API_KEY", KEY)
    return KEY


def test_secret_reads_the_environment_and_its_file_variant(monkeypatch, tmp_path):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert secret("HF_TOKEN") is None
    path = tmp_path / "token"
    path.write_text("hf_from_file_123\n")
    monkeypatch.setenv("HF_TOKEN_FILE", str(path))
    assert secret("HF_TOKEN") == "hf_from_file_123"
    with pytest.raises(ValueError, match="not a known secret"):
        secret("PATH")


def test_redact_walks_strings_lists_and_dicts(mistral_key):
    assert redact(f"401 for key {KEY}") == f"401 for key {REDACTED}"
    assert redact({"a": [KEY, 3], "b": "plain"}) == {"a": [REDACTED, 3], "b": "plain"}
    assert redact(7) == 7


def test_logging_filter_redacts_formatted_arguments(mistral_key, caplog):
    logger = logging.getLogger("ftloop.test.secrets")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO, logger="ftloop.test.secrets"):
        logger.info("calling with %s", KEY)
    assert KEY not in caplog.text and REDACTED in caplog.text


@pytest.mark.django_db
def test_run_errors_logs_and_results_are_redacted(mistral_key, data_dir):
    dataset = Dataset.objects.create(name="d", params={"size": 10, "seed": 0, "language": "en", "teacher": "template"})
    [first] = services.create_chain([(StageRun.Kind.GENERATE, {})], dataset=dataset)
    [second] = services.create_chain([(StageRun.Kind.FILTER, {})], dataset=dataset)
    lifecycle.mark_started(first, "t", "host", 1)
    RunReporter(first).on_log(f"Authorization: Bearer {KEY}")
    lifecycle.mark_failed(first, f"HTTPError: 401 for {KEY}")
    lifecycle.mark_started(second, "t", "host", 1)
    lifecycle.mark_succeeded(second, {"echo": KEY})
    for run in StageRun.objects.all():
        stored = f"{run.log_tail} {run.error} {run.result}"
        assert KEY not in stored
    first.refresh_from_db()
    second.refresh_from_db()
    assert REDACTED in first.error and REDACTED in first.log_tail
    assert second.status == StageRun.Status.SUCCESS and second.result == {"echo": REDACTED}
