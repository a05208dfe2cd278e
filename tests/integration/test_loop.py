"""A whole 2-cycle loop through real workers, with a tiny base model so it runs in CI time."""

import pytest
from django.urls import reverse

from tests.conftest import wait_for
from tests.factories import loop_done, tiny_loop
from webapp.datasets.models import FrozenEvalSet
from webapp.evals.models import EvalExample
from webapp.runs.models import Cycle, StageRun

pytestmark = pytest.mark.integration
Status = StageRun.Status


def test_a_two_cycle_loop_completes_with_verdicts_and_oversampling(engineer_client, start_worker, tmp_path):
    start_worker()
    loop = tiny_loop(tmp_path)
    assert wait_for(lambda: loop_done(loop), timeout=600, message="the loop") is True, [
        (r.kind, r.status, r.error) for r in StageRun.objects.filter(cycle__loop=loop).exclude(status=Status.SUCCESS)]

    loop.refresh_from_db()
    assert loop.completion_rate == 1.0 and loop.started_cycles == 2
    first, second = Cycle.objects.filter(loop=loop).order_by("index")
    assert second.oversample and second.dataset.params["oversample"] == second.oversample
    evals = StageRun.objects.filter(cycle__loop=loop, kind=StageRun.Kind.EVALUATE)
    assert sorted(r.params["predictor"] for r in evals) == sorted(["rule_baseline", "prompt_baseline", "fine_tuned"] * 2)
    for run in evals:
        eval_set = FrozenEvalSet.objects.get(pk=run.result["eval_set_id"])  # the loop's yardstick, frozen in cycle 1
        assert eval_set == first.dataset.frozen_eval_set
        assert run.result["metrics"]["n_examples"] == eval_set.size
        assert run.result["provenance"]["eval_set_hash"] == eval_set.content_hash
        assert EvalExample.objects.filter(run=run).count() == eval_set.size
    constrained = evals.filter(params__predictor__in=["prompt_baseline", "fine_tuned"])
    assert all(run.result["metrics"]["json_valid_rate"] == 1.0 for run in constrained)

    verdicts = {v["criterion"]["key"]: v for v in second.verdicts}
    assert verdicts["loop_completion"]["passed"] is True and "1" in verdicts["loop_completion"]["reason"]
    assert verdicts["json_valid_rate"]["passed"] is True
    assert all(v["reason"] for v in second.verdicts)
    assert {v["criterion"]["key"]: v["passed"] for v in first.verdicts}["loop_completion"] is None

    page = engineer_client.get(reverse("loop_detail", args=[loop.pk])).content.decode()
    assert 'data-testid="completion-rate">1.00<' in page
    data = engineer_client.get(reverse("compare_data") + f"?loop={loop.pk}").json()
    [section] = data["tasks"]
    assert len(section["runs"]) == 6 and all(len(r["errors"]) == r["metrics"]["n_examples"] for r in section["runs"])
