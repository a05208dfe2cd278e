import os

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.factories import four_class_pair, four_class_set, six_values_run, six_values_set
from webapp.evals.models import ABTest

pytestmark = pytest.mark.browser


def log_in(page, live_server) -> None:
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "eng")
    page.fill("input[name=password]", "pw-eng-123")
    page.click("button[type=submit]")


def create_from_run_page(page, live_server, run_a, run_b) -> None:
    page.goto(f"{live_server.url}/runs/{run_a.pk}/")
    page.get_by_role("link", name="Compare this run (as A) with another evaluation of its frozen set").click()
    assert page.locator("select[name=run_a]").input_value() == str(run_a.pk)
    page.select_option("select[name=run_b]", str(run_b.pk))
    page.get_by_role("button", name="Compare").click()


def test_the_ab_page_shows_both_confusion_matrices_and_the_intervals(browser_page, live_server, engineer):
    run_a, run_b = four_class_pair(four_class_set())
    page = browser_page
    log_in(page, live_server)
    create_from_run_page(page, live_server, run_a, run_b)

    confusions = page.locator("#ab-charts .chart[data-chart=confusion]")
    page.wait_for_selector("#ab-charts .chart[data-chart=confusion] .main-svg")
    page.wait_for_selector("#chart-deltas .chart[data-chart=rates] .main-svg")
    assert confusions.count() == 2
    assert confusions.nth(0).locator(".heatmaplayer").count() == 1 and confusions.nth(1).locator(".heatmaplayer").count() == 1
    assert "fine_tuned" in confusions.nth(1).locator(".gtitle").text_content()
    result = ABTest.objects.get().result
    intervals = page.locator("[data-testid=ci]").all_inner_texts()
    assert len(intervals) == len(result["metrics"]) + 1  # every metric of the task, and the per-example error
    assert all((text.startswith("[") and text.endswith("]")) or text == "—" for text in intervals)
    assert page.locator("tr[data-metric=accuracy] td").nth(3).inner_text() == "0.0500"
    assert page.locator("[data-testid=test-name]").inner_text() == "McNemar's test"
    assert float(page.locator("[data-testid=p-value]").inner_text()) <= 1

    page.goto(f"{live_server.url}/runs/{run_b.pk}/")
    assert page.locator("#ab-tests a", has_text="A/B #").count() == 1
    page.goto(f"{live_server.url}/evals/ab/")
    page.get_by_role("link", name=str(ABTest.objects.get().pk), exact=True).click()
    page.wait_for_selector("#ab-charts .chart[data-chart=confusion] .main-svg")
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "ab-test-page.png"), full_page=True)


def test_the_ab_page_of_the_six_value_task_draws_its_scatter_and_error_test(browser_page, live_server, engineer):
    dataset = six_values_set(items=30)
    run_a, run_b = six_values_run(dataset, "rule_baseline", 12), six_values_run(dataset, "fine_tuned", 3)
    page = browser_page
    log_in(page, live_server)
    create_from_run_page(page, live_server, run_a, run_b)

    page.wait_for_selector("#ab-charts .chart[data-chart^='scatter.'] .main-svg")
    assert page.locator("#ab-charts .chart[data-chart^='scatter.']").count() == 6
    energy = page.locator("#ab-charts .chart[data-chart='scatter.energy']")
    assert energy.evaluate("chart => chart.data.map((trace) => trace.name)")[:2] == [
        f"A: #{run_a.pk} rule_baseline", f"B: #{run_b.pk} fine_tuned"]
    assert page.locator("[data-testid=ab-error] tr[data-metric=error] [data-reading=better]").count() == 1
    assert page.locator("[data-testid=test-name]").inner_text() in ("Sign test", "Wilcoxon signed-rank test")
    page.wait_for_selector("#chart-deltas .chart[data-chart=vector_mae] .main-svg")
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "ab-test-six-values.png"), full_page=True)
