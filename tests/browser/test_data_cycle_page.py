import os

import pytest

from tests.browser.conftest import ARTIFACTS

pytestmark = pytest.mark.browser


def test_it_logs_in_starts_a_generation_and_sees_it_finish(browser_page, live_server, engineer, start_worker):
    start_worker()
    page = browser_page
    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url

    page.fill("input[name=username]", "eng")
    page.fill("input[name=password]", "pw-eng-123")
    page.click("button[type=submit]")
    page.get_by_role("link", name="New dataset").click()

    page.fill("input[name=size]", "300")
    page.fill("input[name=seed]", "11")
    page.select_option("main select[name=language]", "mixed")
    page.get_by_role("button", name="Start").click()

    # htmx polls the stage table, then reloads the page once every stage is done.
    page.wait_for_selector("[data-testid=frozen-hash]", timeout=120_000)
    statuses = page.locator("#dataset-runs [data-status]").evaluate_all("els => els.map(e => e.dataset.status)")
    assert statuses == ["SUCCESS"] * 4
    page.wait_for_selector("#histograms .chart[data-axis=nostalgia] .main-svg")
    assert page.locator("#histograms .chart").count() == 6
    assert len(page.locator("[data-testid=frozen-hash]").inner_text()) == 64
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "dataset-page.png"), full_page=True)
