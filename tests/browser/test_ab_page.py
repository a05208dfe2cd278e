import os

import pytest

from pipeline.tasks.registry import get_task
from tests.browser.conftest import ARTIFACTS
from tests.unit.test_text_task_views import ab_pair
from webapp.evals.models import ABTest

pytestmark = pytest.mark.browser


def test_the_ab_page_shows_both_confusion_matrices_and_the_intervals(browser_page, live_server, engineer):
    run_a, run_b = ab_pair()
    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "eng")
    page.fill("input[name=password]", "pw-eng-123")
    page.click("button[type=submit]")

    page.goto(f"{live_server.url}/runs/{run_a.pk}/")
    page.get_by_role("link", name="Compare this run (as A) with another evaluation of its frozen set").click()
    assert page.locator("select[name=run_a]").input_value() == str(run_a.pk)
    page.select_option("select[name=run_b]", str(run_b.pk))
    page.get_by_role("button", name="Compare").click()

    page.wait_for_selector("#confusion-a .main-svg")
    page.wait_for_selector("#confusion-b .main-svg")
    page.wait_for_selector("#chart-deltas .main-svg")
    assert page.locator("#confusion-a .heatmaplayer").count() == 1 and page.locator("#confusion-b .heatmaplayer").count() == 1
    assert "fine_tuned" in page.locator("#confusion-b .gtitle").text_content()
    intervals = page.locator("[data-testid=ci]").all_inner_texts()
    assert len(intervals) == 3 and all(text.startswith("[") and text.endswith("]") for text in intervals)
    assert page.locator("tr[data-metric=accuracy] td").nth(3).inner_text() == "0.0500"
    assert float(page.locator("[data-testid=p-value]").inner_text()) <= 1

    page.goto(f"{live_server.url}/runs/{run_b.pk}/")
    assert page.locator("#ab-tests a", has_text="A/B #").count() == 1
    page.goto(f"{live_server.url}/evals/ab/")
    page.get_by_role("link", name=str(ABTest.objects.get().pk), exact=True).click()
    page.wait_for_selector("#confusion-b .main-svg")
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "ab-test-page.png"), full_page=True)


def with_task_results(run, task_name: str, rows: list[dict]) -> None:
    """Give a fixture evaluation the metrics and chart data its task computes from `rows`."""
    task = get_task(task_name)
    run.result = {**run.result, "metrics": {**task.metrics(rows), "n_examples": len(rows)}, "charts": task.charts(rows)}
    run.save(update_fields=["result"])


def test_the_comparison_page_draws_each_text_tasks_metrics_and_charts(browser_page, live_server, engineer):
    runs = ab_pair()
    for run in runs:
        with_task_results(run, "four_class", [{"answer": ex.target, "parsed": ex.parsed, "latency_ms": ex.latency_ms}
                                              for ex in run.eval_examples.all()])
    choice = ab_pair("c" * 64)
    for run, right in zip(choice, (0.5, 0.9)):
        run.dataset.task_type = "multiple_choice"
        run.dataset.save(update_fields=["task_type"])
        with_task_results(run, "multiple_choice", [
            {"answer": "A", "parsed": "A" if index < right * 20 else "B", "raw": "Answer: A", "latency_ms": 3.0,
             "meta": {"mode": "cot" if index % 2 else "direct"}} for index in range(20)])
    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "eng")
    page.fill("input[name=password]", "pw-eng-123")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/evals/compare/?ids=" + ",".join(str(run.pk) for run in (*runs, *choice)))

    page.wait_for_selector(".task-section[data-task=multiple_choice] .task-charts .main-svg")
    four = page.locator(".task-section[data-task=four_class]")
    assert four.locator(".task-metrics tbody tr").first.get_attribute("data-metric") == "macro_f1"
    assert four.locator(".task-bars .chart[data-chart=rates] .point").count() > 0
    assert four.locator(".task-charts .chart[data-chart=confusion] .heatmaplayer").count() == 2
    mc = page.locator(".task-section[data-task=multiple_choice]")
    assert mc.locator(".chart[data-chart='accuracy_by_mode.accuracy'] .point").count() == 6  # all/direct/cot x 2 runs
    assert page.locator("#chart-axis-mae").count() == 0  # no six-parameter runs chosen
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "compare-text-tasks.png"), full_page=True)
