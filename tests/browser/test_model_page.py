"""Issue 15: a model trained from the training form (not a loop) is evaluated from its own page beside the rule
baseline on the same frozen set, then A/B tested against another model of the six-parameter task."""

import os

import pytest

from pipeline.data.jsonl import read_jsonl
from tests.browser.conftest import ARTIFACTS, log_in
from tests.conftest import wait_for
from tests.tiny_model import make_tiny_llama
from webapp.datasets.services import start_data_cycle
from webapp.evals.models import ABTest
from webapp.runs import training
from webapp.runs.models import StageRun
from webapp.serving import evaluation
from webapp.serving.models import RegisteredModel

pytestmark = pytest.mark.browser
Status = StageRun.Status


def finished(runs) -> bool:
    return all(StageRun.objects.get(pk=run.pk).is_finished for run in runs)


def test_a_form_trained_model_is_evaluated_from_its_page_and_ab_tested(browser_page, live_server, engineer,
                                                                        start_worker, tmp_path):
    start_worker()
    dataset = start_data_cycle(size=150, seed=4, language="en")
    wait_for(lambda: dataset.runs.filter(status=Status.SUCCESS).count() == 4, timeout=120, message="data stages")
    dataset.refresh_from_db()
    base = str(make_tiny_llama(tmp_path / "tiny", [row["request_text"]
                                                   for row in read_jsonl(dataset.directory / "train.jsonl")]))
    page = browser_page
    log_in(page, live_server)

    # Train from the training form: a regression head (its chain evaluates it on its dataset's set too).
    page.goto(f"{live_server.url}/runs/train/?dataset={dataset.pk}")
    page.select_option("select[name=preset]", "hidden_params:reg_head")
    for name, value in {"model_name": base, "max_steps": "12", "learning_rate": "0.02", "batch_size": "8",
                        "lora_r": "4", "eval_steps": "50"}.items():
        page.fill(f"input[name={name}]", value)
    page.get_by_role("button", name="Start training").click()
    train = StageRun.objects.get(kind=StageRun.Kind.TRAIN)
    wait_for(lambda: finished(StageRun.objects.filter(chain_id=train.chain_id)), timeout=300, message="the chain")
    model = RegisteredModel.objects.get(source_run=train)

    # Another model of the task, evaluated on the same set, to A/B against.
    other_run = training.start_training(dataset, {**train.params, "max_steps": 3, "seed": 7}, evaluate=False)
    wait_for(lambda: finished([other_run]), timeout=300, message="the second training")
    other = RegisteredModel.objects.get(source_run=other_run)
    other_evals = evaluation.start_evaluation(other, dataset.frozen_eval_set, baselines=False)

    # The model's page: evaluate on the dataset's frozen set with the baselines.
    page.goto(f"{live_server.url}/models/")
    page.get_by_role("link", name=model.name).click()
    page.select_option("select[name=eval_set]", str(dataset.frozen_eval_set.pk))
    page.get_by_test_id("evaluate").click()
    page.wait_for_selector("text=Evaluation queued.")
    chain = StageRun.objects.filter(params__model_id=model.pk, kind=StageRun.Kind.EVALUATE)
    assert {run.params["predictor"] for run in chain} == {"fine_tuned", "rule_baseline", "prompt_baseline"}
    wait_for(lambda: finished(StageRun.objects.filter(chain_id=chain.first().chain_id)) and finished(other_evals),
             timeout=300, message="the evaluations")
    hashes = {run.result["provenance"]["eval_set_hash"] for run in chain.filter(status=Status.SUCCESS)}
    assert hashes == {dataset.frozen_eval_set.content_hash}  # the model and the rule baseline, on one set

    page.reload()
    page.get_by_test_id("evaluations").get_by_role("link", name="side by side").first.click()
    headers = page.locator("table.task-metrics thead th").all_inner_texts()
    assert any(h.startswith("fine_tuned") for h in headers) and any(h.startswith("rule_baseline") for h in headers)
    assert page.locator("[data-testid=mixed-sets]").count() == 0  # one frozen set for all three
    page.wait_for_selector(".metric-bars .main-svg")
    os.makedirs(ARTIFACTS, exist_ok=True)
    page.screenshot(path=os.path.join(ARTIFACTS, "model-evaluated-beside-baselines.png"), full_page=True)

    # A/B: the other model (A) against this one (B), from this model's page.
    page.goto(f"{live_server.url}/models/{model.pk}/")
    other_eval = next(run for run in other_evals if run.kind == StageRun.Kind.EVALUATE)
    page.select_option("#ab-a", str(other_eval.pk))
    page.get_by_test_id("ab-compare").click()
    page.wait_for_selector("[data-testid=test-name]")
    test = ABTest.objects.get()
    assert test.run_a_id == other_eval.pk and test.run_b.params["model_id"] == model.pk
    assert page.locator("[data-testid=test-name]").inner_text() in ("Wilcoxon signed-rank test", "Sign test")
    page.screenshot(path=os.path.join(ARTIFACTS, "model-ab-test.png"), full_page=True)
