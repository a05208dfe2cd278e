"""The playground for a task with a label answer: four_class, sampled from its own frozen set, answered by its
keyword rules and by a classification head trained through the real worker (a tiny Llama stands in for the base
model)."""

import os

import pytest

from pipeline.data.jsonl import read_jsonl
from pipeline.tasks.registry import get_task
from tests.browser.conftest import ARTIFACTS
from tests.conftest import wait_for
from tests.tiny_model import make_tiny_llama
from webapp.datasets.services import start_data_cycle
from webapp.runs import training
from webapp.runs.models import StageRun

pytestmark = pytest.mark.browser
TASK = "four_class"
HEAD = {"trainer": "cls_head", "backend": "local", "max_steps": 4, "batch_size": 4, "learning_rate": 5e-3,
        "lora_r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "max_seq_length": 256, "warmup_ratio": 0.0,
        "eval_steps": 2, "logging_steps": 2, "seed": 1}


def chain_finished(run: StageRun) -> bool:
    return all(row.is_finished for row in StageRun.objects.filter(chain_id=run.chain_id))


def test_a_designer_samples_a_four_class_request_and_reads_the_label_of_the_rules_and_a_head(
        browser_page, live_server, designer, start_worker, settings, tmp_path):
    settings.FTLOOP_PLAYGROUND_TIMEOUT_S = 300
    task = get_task(TASK)
    labels = task.answer_fields[0].choices
    start_worker()
    demo = task.demo_rows(80, 0, "en")
    texts = [message["content"] for row in demo for message in task.chat_messages(row, True)]
    base = str(make_tiny_llama(tmp_path / "tiny", texts))  # a tokenizer that has seen the task's prompts
    dataset = start_data_cycle(size=60, seed=1, language="en", task=TASK)
    wait_for(lambda: dataset.runs.filter(status=StageRun.Status.SUCCESS).count() == 4, timeout=120, message="data")
    dataset.refresh_from_db()
    frozen = dataset.frozen_eval_set
    assert frozen.task_type == TASK
    frozen_texts = {task.text(row): task.answer(row) for row in read_jsonl(frozen.path)}

    head = training.start_training(dataset, {**HEAD, "model_name": base}, evaluate=False)
    # The whole chain (its evaluations too), so that the worker is free for the playground's request.
    wait_for(lambda: chain_finished(head), timeout=600, message="the classification head's chain")
    head.refresh_from_db()
    assert head.status == StageRun.Status.SUCCESS and head.result.get("adapter_dir"), head.error
    specs = ["rule_baseline", f"run:{head.pk}"]

    page = browser_page
    page.goto(live_server.url + "/accounts/login/")
    page.fill("input[name=username]", "des")
    page.fill("input[name=password]", "pw-des-123")
    page.click("button[type=submit]")
    page.get_by_role("link", name="Playground").click()
    page.wait_for_selector("body[data-playground-ready]")
    with page.expect_navigation():
        page.select_option("#task-select", TASK)  # the selector reloads the page for that task
    page.wait_for_selector("body[data-playground-ready]")
    assert page.locator("input[name=task]").input_value() == TASK
    assert page.locator("input[name=chart]").count() == 0  # a label has no bars
    page.check(f"input[name=models][value='{specs[1]}']")

    page.click("#sample-button")
    wait_for(lambda: page.locator("textarea[name=text]").input_value(), timeout=20, message="the sampled request")
    sample = page.locator("textarea[name=text]").input_value()
    assert sample in frozen_texts
    expected = page.locator("[data-testid=expected]").inner_text()
    assert expected == frozen_texts[sample] and expected in labels
    page.locator("textarea[name=text]").press("Control+Enter")

    for spec in specs:
        page.wait_for_selector(f".result[data-model='{spec}'] [data-testid=answer]", timeout=300_000)
    for spec in specs:
        result = page.locator(f".result[data-model='{spec}']")
        raw = result.locator("[data-testid=raw]").inner_text()
        badge = result.locator(".answer-choice")
        shown = badge.inner_text()
        assert shown in labels and shown == task.parse(raw), (spec, raw)
        right = "status-success" if shown == expected else "status-failure"
        assert right in badge.get_attribute("class")  # compared with the sample's expected label
        assert "ms" in result.locator("[data-testid=latency]").inner_text()
    rules_said = task.parse(task.rule_baseline().predict([sample])[0].raw)
    assert page.locator(".result[data-model='rule_baseline'] .answer-choice").inner_text() == rules_said
    assert page.locator("#prediction-chart").count() == 0

    other = next(label for label in labels if label != rules_said)
    page.locator(".result[data-model='rule_baseline'] select[name=label]").select_option(other)
    page.locator(".result[data-model='rule_baseline'] button[value=bad]").click()
    page.wait_for_selector(".result[data-model='rule_baseline'] .saved:has-text('Saved')")
    from webapp.playground.models import Correction

    correction = Correction.objects.get()
    assert correction.task_type == TASK and correction.verdict == "bad"
    assert correction.corrected == other and correction.predicted == rules_said
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "playground-four-class.png"), full_page=True)
