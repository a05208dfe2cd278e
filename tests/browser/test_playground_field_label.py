"""A designer labels a real request in the playground and it lands in the field set (issue 14, Done when): the
request's hash puts it in the field, the page says so, and the field-set list shows the new version."""

import os

import pytest

from tests.browser.conftest import ARTIFACTS
from webapp.datasets import field
from webapp.datasets.models import FrozenEvalSet, LabelledRequest

pytestmark = pytest.mark.browser
# The request from the issue that today's default model answered badly; assign() puts it in the field.
REQUEST = "静かな雨の夜に、古いカセットテープで聴くような、アコースティックギターと柔らかいピアノの温かい曲"


def test_a_designer_labels_a_request_into_the_field_set(browser_page, live_server, designer, start_worker, settings):
    settings.FTLOOP_PLAYGROUND_TIMEOUT_S = 120
    assert field.assign(REQUEST) == "field"
    start_worker()

    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "des")
    page.fill("input[name=password]", "pw-des-123")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Playground").click()
    page.wait_for_selector("body[data-playground-ready]")
    page.fill("textarea[name=text]", REQUEST)
    assert page.locator("input[name=models][value='rule_baseline']").is_checked()
    page.locator("textarea[name=text]").press("Control+Enter")
    result = page.locator(".result[data-model='rule_baseline']")
    result.locator("[data-testid=answer]").wait_for(timeout=120_000)

    # The designer's values: quiet, warm, acoustic, nostalgic.
    corrected = {"energy": 15, "warmth": 90, "brightness": 35, "acousticness": 95, "complexity": 30,
                 "nostalgia": 90}
    for axis, value in corrected.items():
        result.locator(f"input[name={axis}]").fill(str(value))
    result.locator("button[value=bad]").click()
    said = result.locator(".saved [data-testid=labelled][data-assigned=field]")
    said.wait_for()
    assert "added to the field set (version 1, 1 requests)" in said.inner_text()
    labelled = LabelledRequest.objects.get()
    assert (labelled.assigned, labelled.origin, labelled.answer) == ("field", "correction", corrected)
    assert labelled.language == "ja" and labelled.created_by == designer
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "playground-field-label.png"), full_page=True)

    frozen = FrozenEvalSet.objects.get(kind="field")
    page.get_by_role("link", name="Field sets").click()
    row = page.locator("[data-testid=field-sets] tr[data-task=hidden_params][data-version='1']")
    row.wait_for()
    assert frozen.content_hash[:12] in row.inner_text() and "latest" in row.inner_text()
    assert page.locator("[data-testid=field-sets] tr[data-task=hidden_params]").count() == 1
    page.screenshot(path=os.path.join(ARTIFACTS, "field-sets.png"), full_page=True)
