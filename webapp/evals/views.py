from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pipeline.eval.metrics import METRIC_KEYS, lower_is_better
from pipeline.tasks.hidden_params import AXES, NEUTRAL
from webapp.evals.forms import CriterionForm
from webapp.evals.models import AcceptanceCriterion, EvalExample
from webapp.runs.models import Cycle, StageRun

WORST_EXAMPLES = 15


def selected_runs(request) -> list[StageRun]:
    """Eval runs named by ?runs=1,2, ?cycle=ID or ?loop=ID; only finished successful ones."""
    runs = StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS).select_related("cycle")
    if request.GET.get("loop", "").isdigit():
        runs = runs.filter(cycle__loop_id=int(request.GET["loop"]))
    elif request.GET.get("cycle", "").isdigit():
        runs = runs.filter(cycle_id=int(request.GET["cycle"]))
    else:
        ids = [int(part) for part in request.GET.getlist("runs") + request.GET.get("ids", "").split(",") if part.isdigit()]
        runs = runs.filter(pk__in=ids)
    return sorted(runs, key=lambda run: (run.cycle.loop_id if run.cycle else 0, run.cycle.index if run.cycle else 0, run.pk))


def label(run: StageRun) -> str:
    predictor = run.params.get("predictor", "?")
    return f"{predictor} · cycle {run.cycle.index + 1}" if run.cycle else f"{predictor} · #{run.pk}"


@require_GET
def compare(request):
    runs = selected_runs(request)
    cycles = Cycle.objects.filter(pk__in={run.cycle_id for run in runs if run.cycle_id}).select_related("loop")
    worst_run = next((run for run in runs if str(run.pk) == request.GET.get("worst")), runs[0] if runs else None)
    worst = EvalExample.objects.filter(run=worst_run).order_by("-abs_error")[:WORST_EXAMPLES] if worst_run else []
    recent = StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS).select_related("cycle")[:60]
    table = [
        {"key": key, "lower_is_better": lower_is_better(key), "values": [run.result["metrics"].get(key) for run in runs]}
        for key in METRIC_KEYS
    ]
    return render(request, "evals/compare.html", {
        "runs": [(run, label(run)) for run in runs], "cycles": cycles, "table": table, "worst_run": worst_run,
        "worst": worst, "recent": [(run, label(run)) for run in recent], "selected": {run.pk for run in runs},
        "query": request.GET.urlencode(),
    })


@require_GET
def compare_data(request):
    """Everything the comparison charts draw, read by static/js/compare.js."""
    runs = selected_runs(request)
    payload = {"axes": list(AXES), "metric_keys": list(METRIC_KEYS), "runs": []}
    for run in runs:
        examples = list(run.eval_examples.values_list("target", "parsed", "abs_error"))
        predicted = [parsed or dict(zip(AXES, NEUTRAL)) for _, parsed, _ in examples]
        payload["runs"].append({
            "id": run.pk,
            "label": label(run),
            "predictor": run.params.get("predictor"),
            "cycle": run.cycle.index + 1 if run.cycle else None,
            "metrics": run.result["metrics"],
            "eval_set_hash": run.result["provenance"]["eval_set_hash"],
            "abs_errors": [error for _, _, error in examples],
            "scatter": {axis: {"target": [t[axis] for t, _, _ in examples], "predicted": [p[axis] for p in predicted]}
                        for axis in AXES},
        })
    return JsonResponse(payload)


@require_GET
def criteria(request):
    rows = [(row, CriterionForm(instance=row, prefix=f"c{row.pk}")) for row in AcceptanceCriterion.objects.all()]
    return render(request, "evals/criteria.html", {"rows": rows})


@permission_required("evals.change_acceptancecriterion", raise_exception=True)
@require_POST
def criterion_update(request, pk: int):
    row = get_object_or_404(AcceptanceCriterion, pk=pk)
    form = CriterionForm(request.POST, instance=row, prefix=f"c{row.pk}")
    if form.is_valid():
        form.save()
        messages.success(request, _("Saved %(key)s.") % {"key": row.key})
    else:
        messages.error(request, _("%(key)s was not saved: %(errors)s") % {
            "key": row.key, "errors": "; ".join(e for errors in form.errors.values() for e in errors)})
    return redirect("criteria")
