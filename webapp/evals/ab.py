"""A/B tests of two finished evaluations on the same frozen set, stored as ABTest rows.

Which evaluations qualify is the registry's business: those of a text task
with an `ab_test` (pipeline.tasks.registry.has_ab_test). The statistics are
paired by item, from the two runs' EvalExample rows, and take well under a
second, so the view computes them while the user waits; nothing is queued.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from pipeline.tasks.registry import get_task, has_ab_test, task_names
from webapp.evals.models import ABTest
from webapp.runs.models import StageRun


def ab_task_names() -> list[str]:
    return [name for name in task_names() if has_ab_test(get_task(name))]


def candidate_runs() -> QuerySet[StageRun]:
    """Successful evaluations of task types that have an A/B test, newest first."""
    return (StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS,
                                    dataset__task_type__in=ab_task_names())
            .select_related("dataset").order_by("-pk"))


def run_name(run: StageRun) -> str:
    return f"#{run.pk} {run.params.get('predictor', '?')}"


def eval_rows(run: StageRun) -> list[dict[str, Any]]:
    """What the A/B statistics read of each example: position (the pairing key), gold, parsed answer, latency."""
    return [{"id": index, "answer": answer, "parsed": parsed, "latency_ms": latency}
            for index, answer, parsed, latency in run.eval_examples.order_by("index").values_list(
                "index", "target", "parsed", "latency_ms")]


def create_ab_test(run_a: StageRun, run_b: StageRun, user=None) -> ABTest:
    """Compute and store A against B; a ValueError says why the two cannot be compared.

    The form checks that both ran on the same frozen set of one task type; the
    task's statistics then check item by item (same items, same gold answers).
    """
    task = run_a.dataset.text_task
    result = task.ab_test(eval_rows(run_a), eval_rows(run_b), run_name(run_a), run_name(run_b))
    return ABTest.objects.create(run_a=run_a, run_b=run_b, result=result, created_by=user,
                                 eval_set_hash=run_a.result["provenance"]["eval_set_hash"])
