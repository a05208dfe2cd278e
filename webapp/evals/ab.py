"""A/B tests of two finished evaluations of one task on the same frozen set, stored as ABTest rows.

Any two successful evaluations of one task type on one frozen set (by eval-set hash) qualify, whatever the
task. The statistics (pipeline.eval.ab_test) are paired by item and read the rows the evaluate stage stored
(webapp.evals.stages.eval_rows); they take well under a second, so the view computes them while the user
waits; nothing is queued.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from pipeline.eval.ab_test import ab_test
from webapp.evals.models import ABTest
from webapp.evals.stages import EVAL_ROWS, eval_rows
from webapp.runs.models import StageRun


def candidate_runs() -> QuerySet[StageRun]:
    """Successful evaluations of every task type, newest first."""
    return (StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
            .select_related("dataset").order_by("-pk"))


def run_name(run: StageRun) -> str:
    """"#12 fine_tuned", and the model it evaluated when a model page asked for it ("· model #3")."""
    model = f" · model #{run.params['model_id']}" if run.params.get("model_id") else ""
    return f"#{run.pk} {run.params.get('predictor', '?')}{model}"


def eval_set_hash(run: StageRun) -> str:
    return run.result.get("provenance", {}).get("eval_set_hash", "")


def stored_rows(run: StageRun) -> list[dict[str, Any]]:
    """The evaluation's rows with every key its task scored (what the task's metrics need); ValueError without."""
    rows = eval_rows(run)
    if not rows:
        raise ValueError(f"evaluation #{run.pk} has no stored eval rows ({EVAL_ROWS}); evaluate it again to A/B "
                         "test it")
    return rows


def create_ab_test(run_a: StageRun, run_b: StageRun, user=None) -> ABTest:
    """Compute and store A against B; a ValueError says why the two cannot be compared.

    The form checks the same already (one task type, one frozen set); the statistics then check item by item
    (same items, same gold answers).
    """
    if run_a.dataset.task_type != run_b.dataset.task_type:
        raise ValueError(f"#{run_a.pk} evaluates {run_a.dataset.task.label} and #{run_b.pk} "
                         f"{run_b.dataset.task.label}; an A/B test compares two models of one task")
    if eval_set_hash(run_a) != eval_set_hash(run_b):
        raise ValueError(f"#{run_a.pk} and #{run_b.pk} were evaluated on different frozen sets")
    result = ab_test(run_a.dataset.task, stored_rows(run_a), stored_rows(run_b), run_name(run_a), run_name(run_b))
    return ABTest.objects.create(run_a=run_a, run_b=run_b, result=result, created_by=user,
                                 eval_set_hash=eval_set_hash(run_a))
