"""Every page under the Content Security Policy (issue #13 part 7): no violation reported by Chromium.

Fixture rows give each page something to draw (a data cycle run in-process, a training run with losses, a
loop, an A/B test, a correction), so the deferred scripts, plotly charts and htmx swaps all run under the policy.
"""

import pytest
from django.urls import reverse

from tests.factories import four_class_pair, four_class_set
from webapp.evals.ab import create_ab_test
from webapp.playground.models import Correction, PlaygroundRequest
from webapp.runs import loops
from webapp.runs.models import Metric, StageRun
from workers import tasks

pytestmark = pytest.mark.browser

# Collects what Chromium reports, from before any page script runs (CDP init scripts are not subject to the CSP).
LISTEN = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"} at ${where}`);
});
"""


@pytest.fixture
def pages(engineer, redis_url) -> list[tuple[str, str, str | None]]:
    """(URL name, path, chart) of every HTML page, with rows behind the detail pages; chart: a selector that
    proves the page's scripts ran (a plotly chart drawn from its JSON endpoint)."""
    engineer.is_staff = engineer.is_superuser = True  # the admin pages too
    engineer.save()
    loop = loops.start_loop(name="csp", cycles=1, data={"size": 60, "seed": 0, "language": "en", "teacher": "template"},
                            training={"model_name": "smollm2-135m-instruct"})
    cycle = loop.cycle_set.get()
    for kind in ("generate", "filter", "split", "freeze"):
        getattr(tasks, kind)(StageRun.objects.get(cycle=cycle, kind=kind).pk)
    dataset = cycle.dataset
    train = StageRun.objects.create(
        kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS, dataset=dataset,
        params={"backend": "local", "model_name": "smollm2-135m-instruct", "max_steps": 3},
        result={"tracker": {"backend": "wandb", "project": "ftloop", "run": "train", "url": None, "dir": None,
                            "artifacts": []}})
    Metric.objects.bulk_create(Metric(run=train, key="train/loss", step=step, value=2.0 / step) for step in (1, 2, 3))
    run_a, run_b = four_class_pair(four_class_set())
    ab_test = create_ab_test(run_a, run_b, engineer)
    request = PlaygroundRequest.objects.create(text="calm piano", model_specs=["rule_baseline"], created_by=engineer)
    Correction.objects.create(request=request, model_label="rule baseline", language="en", verdict="good",
                              created_by=engineer)
    named = [("dashboard", [], None), ("dataset_new", [], None), ("dataset_import", [], None),
             ("dataset_detail", [dataset.pk], "#histograms .main-svg"), ("training_new", [], None),
             ("run_detail", [train.pk], ".main-svg"), ("run_detail", [run_b.pk], None),
             ("run_tracker", [train.pk], None), ("loop_new", [], None), ("loop_detail", [loop.pk], None),
             ("compare", [], None), ("ab_tests", [], None), ("ab_test_detail", [ab_test.pk], "#ab-charts .chart[data-chart=confusion] .main-svg"),
             ("criteria", [], None), ("playground", [], None), ("corrections", [], None), ("admin:index", [], None),
             ("admin:evals_abtest_changelist", [], None), ("admin:evals_abtest_change", [ab_test.pk], None)]
    compared = [("compare", f"{reverse('compare')}?runs={run_a.pk}&runs={run_b.pk}", None)]
    return [(name, reverse(name, args=args), chart) for name, args, chart in named] + compared


@pytest.fixture
def eager_playground(monkeypatch):
    """The playground's one round trip, answered in the live server's thread instead of an inference worker."""
    monkeypatch.setattr(tasks.predict_playground, "delay", lambda pk: tasks.predict_playground.apply(args=[pk]))


def violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations")


def test_every_page_loads_under_the_csp_without_a_violation(browser_page, live_server, pages, eager_playground):
    page = browser_page
    console = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(LISTEN)
    # Logged out: the login page, whose language switch (site.js) posts to set_language.
    response = page.goto(live_server.url + reverse("login"))
    policy = response.headers["content-security-policy"]
    assert dict(part.strip().split(" ", 1) for part in policy.split(";"))["script-src"] == "'self'"
    page.select_option("select[name=language]", "ja")
    page.wait_for_selector("html[lang=ja]")
    page.select_option("select[name=language]", "en")
    page.wait_for_selector("html[lang=en]")
    page.fill("input[name=username]", "eng")
    page.fill("input[name=password]", "pw-eng-123")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + reverse("dashboard"))

    # The listener works: an inline script injected into a page is blocked and reported.
    page.evaluate("document.head.appendChild(Object.assign(document.createElement('script'), {textContent: '1'}))")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert violations(page)[0].startswith("script-src")
    console.clear()

    found = {}
    for name, path, chart in pages:
        response = page.goto(live_server.url + path)
        assert response.status == 200, (name, path, response.status)
        assert response.headers["content-security-policy"] == policy
        if chart:
            page.wait_for_selector(chart)
        page.wait_for_load_state("networkidle")
        found[path] = violations(page)
    assert found == {path: [] for _name, path, _chart in pages}

    # The playground's answer (an htmx swap) and its sliders (site.js) under the policy.
    page.goto(live_server.url + reverse("playground"))
    page.fill("textarea[name=text]", "calm piano for a rainy night")
    page.locator("textarea[name=text]").press("Control+Enter")
    slider = page.locator(".result[data-model='rule_baseline'] input[name=energy]")
    slider.fill("7")
    assert slider.locator("xpath=following-sibling::output").inner_text() == "7"
    page.wait_for_selector("#prediction-chart .main-svg")
    assert violations(page) == []
    assert [text for text in console if "Content Security Policy" in text] == []
