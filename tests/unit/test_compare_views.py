"""The comparison page and the A/B pages, for every task type through one code path."""

import json
import re
from pathlib import Path

import pytest
from django.urls import reverse

from pipeline.tasks.hidden_params import AXES
from pipeline.tasks.registry import get_task
from tests.factories import (
    LABELS,
    choice_set,
    evaluation,
    four_class_pair,
    four_class_set,
    six_values_run,
    six_values_set,
)
from webapp.evals.models import ABTest
from webapp.evals.stages import EVAL_ROWS
from webapp.runs.models import Cycle, Loop

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def compare_url(runs, **extra) -> str:
    query = "ids=" + ",".join(str(run.pk) for run in runs)
    return reverse("compare") + "?" + "&".join([query, *(f"{k}={v}" for k, v in extra.items())])


def test_it_draws_one_section_per_task_type_in_order_of_appearance(engineer_client):
    six = six_values_set()
    six_runs = [six_values_run(six, "rule_baseline", 10), six_values_run(six, "fine_tuned", 4)]
    four = four_class_pair(four_class_set())
    choice = evaluation(choice_set(), "prompt_baseline", ["Answer: B", "Answer: A"] * 5)
    page = engineer_client.get(compare_url([*six_runs, *four, choice]))
    html = page.content.decode()
    assert re.findall(r'class="card task-section" data-task="([a-z_]+)"', html) == ["hidden_params", "four_class",
                                                                                   "multiple_choice"]
    sections = page.context["sections"]
    for section in sections:
        task = section["task"]
        assert section["table"][0]["key"] == task.headline_metric and section["table"][0]["headline"]
        for row in section["table"]:
            assert row["higher_is_better"] == {**task.higher_is_better, "p95_inference_latency_ms": False}[row["key"]]
    six_table = {row["key"]: row for row in sections[0]["table"]}
    assert [cell["value"] for cell in six_table["vector_mae"]["cells"]] == [
        run.result["metrics"]["vector_mae"] for run in six_runs]
    assert [cell["best"] for cell in six_table["vector_mae"]["cells"]] == [False, True]  # lower is better
    assert "cost_per_100_requests_usd" not in six_table  # no run has a price
    assert [cell["best"] for cell in sections[1]["table"][0]["cells"]] == [False, True]  # macro_f1, higher is better
    assert 'data-metric="macro_f1" class="headline"' in html and "mixed-sets" not in html


def test_the_chart_data_carries_each_tasks_metrics_errors_and_charts(engineer_client):
    six = six_values_set()
    six_runs = [six_values_run(six, "rule_baseline", 10), six_values_run(six, "fine_tuned", 4)]
    four = four_class_pair(four_class_set())
    data = engineer_client.get(reverse("compare_data") + "?ids=" + ",".join(
        str(run.pk) for run in (*six_runs, *four))).json()
    assert list(data) == ["tasks"]
    six_data, four_data = data["tasks"]
    assert six_data["name"] == "hidden_params" and six_data["metric_keys"][0] == "vector_mae"
    assert six_data["higher_is_better"]["vector_mae"] is False and six_data["higher_is_better"]["json_valid_rate"]
    assert six_data["per_field"][0] == {"prefix": "mae", "fields": list(AXES), "keys": [f"mae_{a}" for a in AXES]}
    assert six_data["trend_metrics"][0] == "vector_mae"
    fine = six_data["runs"][1]
    assert fine["errors"] == [e.abs_error for e in six_runs[1].eval_examples.order_by("index")]
    assert fine["errors"][0] == 40.0 and fine["errors"][1] == 4.0  # unreadable: |10 - 50| on every axis
    scatter = fine["charts"]["scatter"]
    assert list(scatter) == list(AXES)
    assert scatter["energy"]["target"][:3] == [10, 17, 24] and scatter["energy"]["predicted"][:3] == [50, 21, 28]
    assert four_data["per_field"] == [] and four_data["metric_keys"][0] == "macro_f1"
    confusion = four_data["runs"][1]["charts"]["confusion"]
    assert confusion["labels"] == list(LABELS) and sum(confusion["invalid"]) == 8
    assert four_data["runs"][0]["errors"].count(1.0) == 10


def test_trends_are_drawn_per_frozen_set_and_mixing_sets_is_flagged(engineer_client):
    loop = Loop.objects.create(name="l", cycles=2)
    first, second = (Cycle.objects.create(loop=loop, index=index) for index in range(2))
    one_set = six_values_set(name="one")
    same = [six_values_run(one_set, "fine_tuned", offset, cycle) for offset, cycle in ((8, first), (4, second))]
    page = engineer_client.get(reverse("compare") + f"?loop={loop.pk}")
    [section] = page.context["sections"]
    assert len(section["cycle_panels"]) == 1 and "data-testid=\"mixed-sets\"" not in page.content.decode()
    assert [run.pk for run in section["cycle_panels"][0]["runs"]] == [run.pk for run in same]

    other = six_values_set(items=10, name="other")
    six_values_run(other, "rule_baseline", 10, second)
    page = engineer_client.get(reverse("compare") + f"?loop={loop.pk}")
    [section] = page.context["sections"]
    assert [len(panel["runs"]) for panel in section["cycle_panels"]] == [2, 1]
    html = page.content.decode()
    assert 'data-testid="mixed-sets"' in html and "ran on 2 different frozen sets" in html
    assert html.count('class="cycle-panel"') == 2


def test_the_worst_examples_show_text_gold_and_parsed_answers_for_every_task(engineer_client):
    six = six_values_set()
    six_run = six_values_run(six, "fine_tuned", 4)
    _, four_b = four_class_pair(four_class_set())
    page = engineer_client.get(compare_url([six_run, four_b], worst=six_run.pk))
    worst = page.context["worst"]
    assert worst["fields"] == list(AXES)
    first = worst["rows"][0]
    assert first["pairs"] == [(10, None)] * 6 and first["parsed"] == "—" and not first["valid"]
    assert worst["rows"][1]["pairs"] == [(17, 21)] * 6
    html = page.content.decode()
    assert "<code>10 → —</code>" in html and "<code>17 → 21</code>" in html
    assert re.search(r'<th class="num">energy<br>', html)

    page = engineer_client.get(compare_url([six_run, four_b], worst=four_b.pk))
    worst = page.context["worst"]
    assert worst["fields"] == [] and worst["rows"][0]["error"] == 1.0
    assert worst["rows"][0]["gold"] == json.dumps(LABELS[0]) and worst["rows"][0]["parsed"] == "—"
    assert '<code>&quot;ALLOW&quot;</code>' in page.content.decode()


def test_the_ab_form_offers_every_tasks_evaluations(engineer_client):
    six = six_values_set()
    six_run = six_values_run(six, "fine_tuned", 4)
    four = four_class_pair(four_class_set())
    page = engineer_client.get(reverse("ab_tests"))
    choices = [value for value, _ in page.context["form"].fields["run_a"].choices if value]
    assert {int(str(value)) for value in choices} == {six_run.pk, *(run.pk for run in four)}
    assert get_task("hidden_params").label in page.content.decode()


def test_an_ab_test_of_two_task_types_is_refused(engineer_client):
    six_run = six_values_run(six_values_set(), "fine_tuned", 4)
    four_run, _ = four_class_pair(four_class_set())
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": six_run.pk, "run_b": four_run.pk})
    [error] = response.context["form"].non_field_errors()
    assert error == (f"#{six_run.pk} evaluates {get_task('hidden_params').label} and #{four_run.pk} evaluates "
                     f"{get_task('four_class').label}; an A/B test compares two models of one task on the same set.")
    assert not ABTest.objects.exists()


def test_an_ab_test_of_runs_on_different_frozen_sets_is_refused(engineer_client):
    run_a, _ = four_class_pair(four_class_set(salt="a"))
    _, run_b = four_class_pair(four_class_set(salt="b"))
    hash_a, hash_b = (run.result["provenance"]["eval_set_hash"] for run in (run_a, run_b))
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk})
    [error] = response.context["form"].non_field_errors()
    assert error == (f"#{run_a.pk} and #{run_b.pk} were evaluated on different frozen sets ({hash_a[:12]}… and "
                     f"{hash_b[:12]}…); an A/B test compares two models on the same set.")
    assert not ABTest.objects.exists()


def test_an_evaluation_without_stored_rows_is_refused_with_the_reason(engineer_client):
    run_a, run_b = four_class_pair(four_class_set())
    (run_b.directory / EVAL_ROWS).unlink()
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk})
    assert response.context["form"].non_field_errors() == [
        f"evaluation #{run_b.pk} has no stored eval rows ({EVAL_ROWS}); evaluate it again to A/B test it"]


@pytest.mark.parametrize("task_name", ["four_class", "hidden_params"])
def test_an_ab_test_of_any_task_is_stored_shown_and_linked_from_both_runs(engineer_client, task_name):
    if task_name == "four_class":
        run_a, run_b = four_class_pair(four_class_set())
    else:
        dataset = six_values_set()
        run_a, run_b = six_values_run(dataset, "rule_baseline", 10), six_values_run(dataset, "fine_tuned", 4)
    response = engineer_client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk})
    test = ABTest.objects.get()
    assert response["Location"] == reverse("ab_test_detail", args=[test.pk])
    task = get_task(task_name)
    headline = test.result["metrics"][task.headline_metric]
    assert headline["a"] == pytest.approx(run_a.result["metrics"][task.headline_metric])
    assert headline["b"] == pytest.approx(run_b.result["metrics"][task.headline_metric])
    assert headline["higher_is_better"] == task.higher_is_better[task.headline_metric]
    assert test.result["test"]["name"] == ("mcnemar" if task_name == "four_class" else test.result["test"]["name"])
    assert test.result["test"]["name"] in ("mcnemar", "sign", "wilcoxon")
    page = engineer_client.get(response["Location"]).content.decode()
    assert re.search(r'data-testid="ci">\[-?\d+\.\d{4}, -?\d+\.\d{4}\]', page)
    assert 'data-testid="p-value"' in page
    data = engineer_client.get(reverse("ab_test_data", args=[test.pk])).json()
    assert set(data["charts"]) == {"a", "b"} and data["names"] == {"a": f"#{run_a.pk} {run_a.params['predictor']}",
                                                                   "b": f"#{run_b.pk} {run_b.params['predictor']}"}
    for run in (run_a, run_b):
        assert reverse("ab_test_detail", args=[test.pk]) in engineer_client.get(
            reverse("run_detail", args=[run.pk])).content.decode()


STORED = {
    "metrics": {
        "accuracy": {"a": 0.75, "b": 0.8, "delta": 0.05, "ci_low": 0.01, "ci_high": 0.1, "higher_is_better": True},
        "invalid_rate": {"a": 0.0, "b": 0.2, "delta": 0.2, "ci_low": 0.1, "ci_high": 0.3, "higher_is_better": False},
        "p95_inference_latency_ms": {"a": 42.0, "b": 10.0, "delta": -32.0, "ci_low": None, "ci_high": None,
                                     "higher_is_better": False},
    },
    "error": {"a": 0.25, "b": 0.2, "delta": -0.05, "ci_low": -0.15, "ci_high": 0.05, "higher_is_better": False},
    "test": {"name": "mcnemar", "p_value": 0.79, "b": 6, "c": 8, "method": "exact_binomial", "statistic": 6.0},
    "latency": {"p50_ms": {"a": 41.0, "b": 9.0}, "ratio_p95": 0.238},
    "bootstrap": {"resamples": 2000, "confidence": 0.95},
    "charts": {"a": {"confusion": {"labels": ["X", "Y"], "matrix": [[3, 1], [0, 4]], "invalid": [0, 0]}},
               "b": {"confusion": {"labels": ["X", "Y"], "matrix": [[4, 0], [0, 2]], "invalid": [0, 2]}}},
}


def test_the_ab_page_shows_whatever_statistics_were_stored(engineer_client):
    run_a, run_b = four_class_pair(four_class_set())
    test = ABTest.objects.create(run_a=run_a, run_b=run_b, eval_set_hash="e" * 64, result=STORED)
    page = engineer_client.get(reverse("ab_test_detail", args=[test.pk]))
    html = page.content.decode()
    assert page.context["confidence_percent"] == 95 and "95% CI" in html
    assert [row["reading"] for row in page.context["metrics"]] == ["better", "worse", None]
    assert page.context["error"]["reading"] == "unclear"
    assert re.findall(r'data-testid="ci">([^<]*)<', html) == ["[0.0100, 0.1000]", "[0.1000, 0.3000]", "—",
                                                              "[-0.1500, 0.0500]"]
    assert 'data-testid="test-name">McNemar&#x27;s test<' in html and 'data-testid="p-value">0.7900<' in html
    assert page.context["test_facts"] == [("b", "6"), ("c", "8"), ("method", "exact_binomial"), ("statistic", "6")]
    assert 'data-latency="p50_ms"' in html and 'data-latency="ratio_p95">0.24<' in html
    assert 'id="ab-charts"' in html and page.context["has_matrix"]


def test_designers_may_read_ab_tests_but_not_create_them(client, designer):
    run_a, run_b = four_class_pair(four_class_set())
    test = ABTest.objects.create(run_a=run_a, run_b=run_b, eval_set_hash="e" * 64, result=STORED)
    client.force_login(designer)
    assert client.get(reverse("ab_test_detail", args=[test.pk])).status_code == 200
    assert client.get(reverse("ab_tests")).status_code == 200
    assert client.post(reverse("ab_test_create"), {"run_a": run_a.pk, "run_b": run_b.pk}).status_code == 403
    assert ABTest.objects.count() == 1


def test_comparison_and_ab_pages_require_login(client):
    for name in ("compare", "compare_data", "ab_tests"):
        assert client.get(reverse(name))["Location"].startswith(reverse("login"))

