import os

import pytest

from pipeline.tasks.registry import DEFAULT_TASK, get_task
from tests.browser.conftest import ARTIFACTS
from tests.conftest import wait_for
from webapp.datasets.services import start_data_cycle
from webapp.runs import training
from webapp.runs.models import StageRun

pytestmark = pytest.mark.browser


def test_a_designer_types_a_request_and_reads_six_values_from_three_models(browser_page, live_server, designer,
                                                                         start_worker, settings):
    settings.FTLOOP_PLAYGROUND_TIMEOUT_S = 600  # a cold SmolLM2 load on a busy 2-core machine
    start_worker()
    dataset = start_data_cycle(size=200, seed=5, language="en")
    wait_for(lambda: dataset.runs.filter(status=StageRun.Status.SUCCESS).count() == 4, timeout=120, message="data")
    dataset.refresh_from_db()
    # The default base model, fine-tuned for two steps both ways (SFT, and the regression head that the main job
    # trains by default): enough to be real adapters on SmolLM2.
    options = {"model_name": "smollm2-135m-instruct", "max_steps": 2, "batch_size": 2, "max_seq_length": 192,
               "eval_steps": 2, "learning_rate": 5e-4}
    runs = [training.start_training(dataset, {**options, "trainer": "sft", "backend": "local"}, evaluate=False),
            training.start_training(dataset, {**options, "trainer": "reg_head", "backend": "local"}, evaluate=False)]
    for run in runs:
        wait_for(lambda: StageRun.objects.get(pk=run.pk).is_finished, timeout=600, message="training")
        run.refresh_from_db()
        assert run.status == StageRun.Status.SUCCESS, run.error
    specs = ["rule_baseline", *(f"run:{run.pk}" for run in runs)]

    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "des")
    page.fill("input[name=password]", "pw-des-123")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Playground").click()
    page.wait_for_selector("body[data-playground-ready]")  # the deferred scripts ran: Ctrl+Enter is wired
    page.fill("textarea[name=text]", "Something cozy and acoustic for a rainy cafe, like an old cassette")
    for spec in specs[1:]:
        page.check(f"input[name=models][value='{spec}']")
    page.locator("textarea[name=text]").press("Control+Enter")

    for spec in specs:
        page.wait_for_selector(f".result[data-model='{spec}'] [data-testid=raw]", timeout=600_000)
    task = get_task(DEFAULT_TASK)
    for spec in specs:
        raw = page.locator(f".result[data-model='{spec}'] [data-testid=raw]").inner_text()
        values = task.parse(raw)
        assert values is not None and len(values) == 6, raw
        shown = page.locator(f".result[data-model='{spec}'] [data-testid=answer] tr")
        assert shown.count() == 6 and shown.first.inner_text().split() == [task.answer_fields[0].key,
                                                                            str(values[task.answer_fields[0].key])]
        assert "ms" in page.locator(f".result[data-model='{spec}'] [data-testid=latency]").inner_text()
    page.wait_for_selector("#prediction-chart .main-svg")

    page.locator(".result[data-model='rule_baseline'] input[name=energy]").fill("3")
    page.locator(".result[data-model='rule_baseline'] button[value=bad]").click()
    page.wait_for_selector(".result[data-model='rule_baseline'] .saved:has-text('Saved')")
    from webapp.playground.models import Correction

    correction = Correction.objects.get()
    assert correction.verdict == "bad" and correction.corrected["energy"] == 3
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "playground.png"), full_page=True)
