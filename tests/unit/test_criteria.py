import pytest
from django.urls import reverse

from pipeline.eval.acceptance import default_criteria
from pipeline.tasks.registry import get_task, task_names
from webapp.evals.models import AcceptanceCriterion

pytestmark = pytest.mark.django_db


def test_the_design_defaults_are_rows():
    rows = {row.key: row for row in AcceptanceCriterion.objects.filter(task_type__in=("hidden_params", ""))}
    assert set(rows) == {c.key for c in default_criteria(get_task("hidden_params"))}
    assert rows["json_valid_rate"].threshold == 0.98 and rows["json_valid_rate"].applies_to == "fine_tuned"
    assert rows["loop_completion"].min_cycles == 2
    assert all(row.to_criterion() == criterion for criterion in default_criteria() for row in [rows[criterion.key]])
    assert AcceptanceCriterion.objects.get(key="loop_completion").task_type == ""


def test_every_task_type_gets_its_own_defaults():
    for name in task_names():
        task = get_task(name)
        keys = set(AcceptanceCriterion.objects.filter(task_type=name).values_list("key", flat=True))
        assert {f"beats_prompt_baseline_{metric}" for metric in task.verdict_metrics} <= keys


def test_engineers_edit_a_threshold(engineer_client):
    row = AcceptanceCriterion.objects.get(key="json_valid_rate", task_type="hidden_params")
    response = engineer_client.post(reverse("criterion_update", args=[row.pk]), {
        f"c{row.pk}-threshold": "0.95", f"c{row.pk}-min_cycles": "0", f"c{row.pk}-enabled": "on",
        f"c{row.pk}-description": "relaxed"})
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.threshold == 0.95 and row.description == "relaxed"


def test_a_threshold_the_rule_needs_cannot_be_removed(engineer_client):
    row = AcceptanceCriterion.objects.get(key="json_valid_rate", task_type="hidden_params")
    engineer_client.post(reverse("criterion_update", args=[row.pk]), {
        f"c{row.pk}-threshold": "", f"c{row.pk}-min_cycles": "0", f"c{row.pk}-enabled": "on"})
    row.refresh_from_db()
    assert row.threshold == 0.98
    page = engineer_client.get(reverse("criteria")).content.decode()
    assert "needs a threshold" in page


def test_designers_cannot_edit_criteria(client, designer):
    client.force_login(designer)
    row = AcceptanceCriterion.objects.get(key="json_valid_rate", task_type="hidden_params")
    assert client.post(reverse("criterion_update", args=[row.pk]), {f"c{row.pk}-threshold": "0.1"}).status_code == 403
