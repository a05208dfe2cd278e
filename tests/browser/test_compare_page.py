import os

import pytest

from tests.browser.conftest import ARTIFACTS
from tests.conftest import wait_for
from tests.integration.test_loop import loop_done, tiny_loop

pytestmark = pytest.mark.browser


def test_the_comparison_page_draws_three_predictors_over_two_cycles(browser_page, live_server, engineer, start_worker,
                                                                    tmp_path):
    start_worker()
    loop = tiny_loop(tmp_path)
    assert wait_for(lambda: loop_done(loop), timeout=600, message="the loop") is True

    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "eng")
    page.fill("input[name=password]", "pw-eng-123")
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/loops/{loop.pk}/")
    page.get_by_role("link", name="Compare all evaluations").click()

    page.wait_for_selector("#chart-cycles .chart[data-chart=vector_mae] .main-svg")
    headers = page.locator("table.metrics thead th").all_inner_texts()[1:]
    assert sorted(headers) == sorted(f"{p} · cycle {c}" for p in ("rule_baseline", "prompt_baseline", "fine_tuned") for c in (1, 2))
    assert page.locator("#chart-metrics .chart").count() >= 7
    bars = page.locator("#chart-metrics .chart[data-chart=vector_mae] .point").count()
    assert bars == 6
    assert page.locator("#chart-scatter .chart").count() == 6
    assert page.locator("#chart-cycles .chart[data-chart=vector_mae] .scatterlayer .trace").count() == 3
    assert page.locator("[data-verdict=loop_completion]").first.inner_text() in ("pass", "fail", "n/a")
    assert page.locator("#worst tbody tr").count() > 0
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "compare-page.png"), full_page=True)
