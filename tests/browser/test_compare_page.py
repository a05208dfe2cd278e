import os

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.conftest import wait_for
from tests.factories import (
    choice_set,
    evaluation,
    four_class_pair,
    four_class_set,
    loop_done,
    six_values_run,
    six_values_set,
    tiny_loop,
)

pytestmark = pytest.mark.browser


def log_in(page, live_server) -> None:
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "eng")
    page.fill("input[name=password]", "pw-eng-123")
    page.click("button[type=submit]")


def test_the_comparison_page_draws_three_predictors_over_two_cycles(browser_page, live_server, engineer, start_worker,
                                                                    tmp_path):
    start_worker()
    loop = tiny_loop(tmp_path)
    assert wait_for(lambda: loop_done(loop), timeout=600, message="the loop") is True

    page = browser_page
    log_in(page, live_server)
    page.goto(f"{live_server.url}/loops/{loop.pk}/")
    page.get_by_role("link", name="Compare all evaluations").click()

    page.wait_for_selector(".cycle-panel .chart[data-chart=vector_mae] .main-svg")
    [task] = page.locator(".task-section").evaluate_all("sections => sections.map((s) => s.dataset.task)")
    section = page.locator(f".task-section[data-task={task}]")
    headers = section.locator("table.metrics thead th").all_inner_texts()[1:]
    assert sorted(headers) == sorted(f"{p} · cycle {c}" for p in ("rule_baseline", "prompt_baseline", "fine_tuned") for c in (1, 2))
    assert section.locator("table.metrics tbody tr").first.get_attribute("data-metric") == "vector_mae"
    assert section.locator(".metric-bars .chart").count() >= 4  # the rates (0-1) together, vector_mae, mse_raw, latency
    assert section.locator(".metric-bars .chart[data-chart=rates] .point").count() >= 6 * 4
    bars = section.locator(".metric-bars .chart[data-chart=vector_mae] .point").count()
    assert bars == 6
    assert section.locator(".field-bars .chart[data-chart='field.mae'] .point").count() == 36  # 6 runs x 6 axes
    assert section.locator(".task-charts .chart[data-chart^='scatter.']").count() == 6
    page.wait_for_selector(".error-box-plot .main-svg")
    assert section.locator(".error-box-plot .boxlayer .trace").count() == 6
    # A trend is drawn only within one frozen set: the loop's yardstick is fixed, so one panel and no warning.
    panels = section.locator(".cycle-panel")
    assert panels.count() == 1
    assert section.locator("[data-testid=mixed-sets]").count() == 0
    for index in range(panels.count()):
        assert panels.nth(index).locator(".chart[data-chart=vector_mae] .scatterlayer .trace").count() == 3
    assert page.locator("[data-verdict=loop_completion]").first.inner_text() in ("pass", "fail", "n/a")
    assert page.locator("#worst tbody tr").count() > 0
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "compare-page.png"), full_page=True)

    # The loop page: each predictor on the fixed yardstick, cycle 1 -> cycle 2, with the change.
    page.goto(f"{live_server.url}/loops/{loop.pk}/")
    table = page.locator("[data-testid=yardstick-table]")
    rows = table.locator("tbody tr")
    assert {rows.nth(i).get_attribute("data-predictor") for i in range(rows.count())} == {
        "rule_baseline", "prompt_baseline", "fine_tuned"}
    assert len({rows.nth(i).get_attribute("data-yardstick") for i in range(rows.count())}) == 1
    assert all(cell != "—" for cell in table.locator("[data-testid=change]").all_inner_texts())
    page.screenshot(path=os.path.join(ARTIFACTS, "loop-yardsticks.png"), full_page=True)

    # Cycle 2's dataset: its lineage (it accumulates cycle 1's) and the decontamination count.
    second = loop.cycle_set.get(index=1).dataset
    page.goto(f"{live_server.url}/datasets/{second.pk}/")
    lineage = page.locator("[data-testid=lineage]")
    assert lineage.locator("[data-testid=parent]").inner_text() == loop.cycle_set.get(index=0).dataset.name
    assert "rows kept from it" in lineage.inner_text()
    assert "Decontamination:" in page.locator("[data-testid=decontamination]").inner_text()
    page.screenshot(path=os.path.join(ARTIFACTS, "dataset-lineage.png"), full_page=True)


def test_the_comparison_page_draws_every_tasks_metrics_and_charts(browser_page, live_server, engineer):
    six = six_values_set(items=20)
    six_runs = [six_values_run(six, "rule_baseline", 10), six_values_run(six, "fine_tuned", 4)]
    four = four_class_pair(four_class_set())
    choice = choice_set(20)
    choice_runs = [evaluation(choice, predictor, ["Answer: B" if index < right * 20 else "Answer: A"
                                                  for index in range(20)])
                   for predictor, right in (("prompt_baseline", 0.5), ("fine_tuned", 0.9))]
    page = browser_page
    log_in(page, live_server)
    chosen = (*six_runs, *four, *choice_runs)
    page.goto(f"{live_server.url}/evals/compare/?ids=" + ",".join(str(run.pk) for run in chosen))

    page.wait_for_selector(".task-section[data-task=multiple_choice] .task-charts .main-svg")
    tasks = page.locator(".task-section").evaluate_all("sections => sections.map((s) => s.dataset.task)")
    assert tasks == ["hidden_params", "four_class", "multiple_choice"]
    four_section = page.locator(".task-section[data-task=four_class]")
    assert four_section.locator(".task-metrics tbody tr").first.get_attribute("data-metric") == "macro_f1"
    assert four_section.locator(".metric-bars .chart[data-chart=rates] .point").count() > 0
    assert four_section.locator(".task-charts .chart[data-chart=confusion] .heatmaplayer").count() == 2
    assert four_section.locator(".field-bars").count() == 0  # no integer answer fields
    mc = page.locator(".task-section[data-task=multiple_choice]")
    assert mc.locator(".chart[data-chart='accuracy_by_mode.accuracy'] .point").count() == 6  # all/direct/cot x 2 runs
    six_section = page.locator(".task-section[data-task=hidden_params]")
    assert six_section.locator(".task-charts .chart[data-chart^='scatter.']").count() == 6
    assert six_section.locator(".field-bars .chart").count() == 2  # mae_<axis> and bucket_acc_<axis>
    for section in (four_section, mc, six_section):
        assert section.locator(".error-box-plot .boxlayer .trace").count() == 2
    assert page.locator("[data-testid=mixed-sets]").count() == 0
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "compare-every-task.png"), full_page=True)
