from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from pipeline.eval.metrics import METRIC_KEYS, lower_is_better
from pipeline.tasks.hidden_params import AXES, NEUTRAL
from pipeline.tasks.registry import TextTask, get_task
from webapp.evals import ab
from webapp.evals.forms import ABTestForm, CriterionForm
from webapp.evals.models import ABTest, AcceptanceCriterion, EvalExample
from webapp.runs.models import Cycle, StageRun

WORST_EXAMPLES = 15


def selected_runs(request) -> list[StageRun]:
    """Eval runs named by ?runs=1,2, ?cycle=ID or ?loop=ID; only finished successful ones."""
    runs = (StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
            .select_related("cycle", "dataset"))
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


def text_task_groups(runs: list[StageRun]) -> list[tuple[TextTask, list[StageRun]]]:
    """The text-task runs among `runs`, grouped by task type in order of appearance."""
    groups: dict[str, list[StageRun]] = {}
    for run in runs:
        if run.dataset.text_task:
            groups.setdefault(run.dataset.task_type, []).append(run)
    return [(get_task(name), group) for name, group in groups.items()]


def task_metric_keys(task: TextTask, runs: list[StageRun]) -> list[str]:
    """The task's metrics that any of the runs has a value for, headline first."""
    keys = [task.headline_metric, *(key for key in task.higher_is_better if key != task.headline_metric)]
    return [key for key in keys if any(run.result["metrics"].get(key) is not None for run in runs)]


def task_payload(task: TextTask, runs: list[StageRun]) -> dict:
    """One task type's part of the comparison JSON: its metrics (with their directions) and chart data per run."""
    keys = task_metric_keys(task, runs)
    return {
        "name": task.name, "label": task.label, "headline_metric": task.headline_metric, "metric_keys": keys,
        "higher_is_better": {key: task.higher_is_better[key] for key in keys},
        "runs": [{"id": run.pk, "label": label(run), "predictor": run.params.get("predictor"),
                  "cycle": run.cycle.index + 1 if run.cycle else None, "metrics": run.result["metrics"],
                  "eval_set_hash": run.result["provenance"]["eval_set_hash"], "charts": run.result.get("charts", {})}
                 for run in runs],
    }


@require_GET
def compare(request):
    runs = selected_runs(request)
    flagship_runs = [run for run in runs if not run.dataset.text_task]
    cycles = Cycle.objects.filter(pk__in={run.cycle_id for run in runs if run.cycle_id}).select_related("loop")
    chains = {run.chain_id for run in runs if not run.cycle_id}
    verdict_runs = StageRun.objects.filter(kind=StageRun.Kind.VERDICT, status=StageRun.Status.SUCCESS, chain_id__in=chains)
    worst_run = next((run for run in runs if str(run.pk) == request.GET.get("worst")), runs[0] if runs else None)
    worst = EvalExample.objects.filter(run=worst_run).order_by("-abs_error")[:WORST_EXAMPLES] if worst_run else []
    recent = StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS).select_related("cycle")[:60]
    table = [
        {"key": key, "lower_is_better": lower_is_better(key),
         "values": [run.result["metrics"].get(key) for run in flagship_runs]}
        for key in METRIC_KEYS
    ]
    task_sections = [
        {"task": task, "runs": [(run, label(run)) for run in group],
         "table": [{"key": key, "lower_is_better": not task.higher_is_better[key], "headline": key == task.headline_metric,
                    "values": [run.result["metrics"].get(key) for run in group]} for key in task_metric_keys(task, group)]}
        for task, group in text_task_groups(runs)
    ]
    return render(request, "evals/compare.html", {
        "runs": [(run, label(run)) for run in runs], "flagship_runs": [(run, label(run)) for run in flagship_runs],
        "cycles": cycles, "verdict_runs": verdict_runs, "table": table, "task_sections": task_sections,
        "worst_run": worst_run, "worst_is_text": bool(worst_run and worst_run.dataset.text_task), "worst": worst,
        "recent": [(run, label(run)) for run in recent], "selected": {run.pk for run in runs},
        "query": request.GET.urlencode(),
    })


@require_GET
def compare_data(request):
    """Everything the comparison charts draw, read by static/js/compare.js: the six-parameter runs under "runs",
    the text-task runs under "tasks" (metrics, metric directions and the task's chart data)."""
    runs = selected_runs(request)
    payload = {"axes": list(AXES), "metric_keys": list(METRIC_KEYS), "runs": [],
               "tasks": [task_payload(task, group) for task, group in text_task_groups(runs)]}
    for run in (run for run in runs if not run.dataset.text_task):
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


def _ab_tests_page(request, form: ABTestForm):
    tests = ABTest.objects.select_related("run_a", "run_b")[:50]
    return render(request, "evals/ab_tests.html", {"form": form, "tests": tests})


@require_GET
def ab_tests(request):
    """Earlier A/B tests, and the form for a new one (?a=ID&b=ID preselect the two evaluations)."""
    return _ab_tests_page(request, ABTestForm(initial={"run_a": request.GET.get("a"), "run_b": request.GET.get("b")}))


@permission_required("evals.add_abtest", raise_exception=True)
@require_POST
def ab_test_create(request):
    form = ABTestForm(request.POST)
    if form.is_valid():
        try:
            test = ab.create_ab_test(form.cleaned_data["run_a"], form.cleaned_data["run_b"], request.user)
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("A/B test saved."))
            return redirect("ab_test_detail", pk=test.pk)
    return _ab_tests_page(request, form)


@require_GET
def ab_test_detail(request, pk: int):
    test = get_object_or_404(ABTest.objects.select_related("run_a__dataset", "run_b__dataset"), pk=pk)
    metrics = [{"key": key, **values} for key, values in test.result["metrics"].items()]
    return render(request, "evals/ab_test.html", {
        "test": test, "metrics": metrics, "result": test.result,
        "confidence_percent": round(100 * test.result["bootstrap"]["confidence"]),
    })


@require_GET
def ab_test_data(request, pk: int):
    """The stored statistics, read by static/js/ab.js (confusion heatmaps, deltas with their intervals)."""
    return JsonResponse(get_object_or_404(ABTest, pk=pk).result)
