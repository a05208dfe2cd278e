"""The comparison page and the A/B pages: one code path for every task type.

Everything task-specific comes from the run's task (pipeline.tasks.registry.Task): its metrics and their
directions, its answer fields, and the chart data its evaluation stored (`run.result["charts"]`), which
static/js/charts.js draws by the shape of the data. Nothing here names a task type.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from pipeline.eval.metrics import RUNNER_METRICS
from pipeline.eval.metrics import metric_keys as all_metric_keys
from pipeline.tasks.registry import Task, get_task
from webapp.evals import ab
from webapp.evals.forms import ABTestForm, CriterionForm, ImportEvalForm
from webapp.evals.imports import ImportRefused, import_result
from webapp.evals.models import ABTest, AcceptanceCriterion, EvalExample
from webapp.runs.models import Cycle, StageRun

WORST_EXAMPLES = 15
# Metrics the eval runner adds to every task's own (pipeline.eval.metrics.RUNNER_METRICS: latency, cost, truncation,
# each lower-is-better); a task that declares one of them itself wins.
RUNNER_DIRECTIONS: dict[str, bool] = dict.fromkeys(RUNNER_METRICS, False)


def selected_runs(request) -> list[StageRun]:
    """Eval runs named by ?runs=1,2, ?ids=1,2, ?cycle=ID, ?loop=ID or ?chain=UUID (a model page's evaluation with
    its baselines); only finished successful ones."""
    runs = (StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
            .select_related("cycle", "dataset"))
    if request.GET.get("loop", "").isdigit():
        runs = runs.filter(cycle__loop_id=int(request.GET["loop"]))
    elif request.GET.get("cycle", "").isdigit():
        runs = runs.filter(cycle_id=int(request.GET["cycle"]))
    elif request.GET.get("chain"):
        try:
            runs = runs.filter(chain_id=uuid.UUID(request.GET["chain"]))
        except ValueError:
            runs = runs.none()
    else:
        ids = [int(part) for part in request.GET.getlist("runs") + request.GET.get("ids", "").split(",") if part.isdigit()]
        runs = runs.filter(pk__in=ids)
    return sorted(runs, key=lambda run: (run.cycle.loop_id if run.cycle else 0, run.cycle.index if run.cycle else 0, run.pk))


def label(run: StageRun) -> str:
    predictor = run.params.get("predictor", "?")
    return f"{predictor} · cycle {run.cycle.index + 1}" if run.cycle else f"{predictor} · #{run.pk}"


def eval_set_hash(run: StageRun) -> str:
    return run.result.get("provenance", {}).get("eval_set_hash", "")


def task_groups(runs: Iterable[StageRun]) -> list[tuple[Task, list[StageRun]]]:
    """`runs` grouped by task type, in order of appearance."""
    groups: dict[str, list[StageRun]] = {}
    for run in runs:
        groups.setdefault(run.dataset.task_type, []).append(run)
    return [(get_task(name), group) for name, group in groups.items()]


def directions(task: Task) -> dict[str, bool]:
    """higher_is_better of every metric an evaluation of the task stores."""
    return {**RUNNER_DIRECTIONS, **task.higher_is_better}


def metric_keys(task: Task, runs: Sequence[StageRun]) -> list[str]:
    """The task's metrics (then the runner's) that any of the runs has a value for, headline first."""
    ordered = dict.fromkeys([task.headline_metric, *all_metric_keys(task)])
    return [key for key in ordered if any(run.result.get("metrics", {}).get(key) is not None for run in runs)]


def int_fields(task: Task) -> list[str]:
    return [answer_field.key for answer_field in task.answer_fields if answer_field.kind == "int"]


def answer_fields(task: Task) -> list[dict[str, Any]]:
    return [{"key": f.key, "kind": f.kind, "choices": list(f.choices), "low": f.low, "high": f.high}
            for f in task.answer_fields]


def per_field_metrics(task: Task, keys: Sequence[str]) -> list[dict[str, Any]]:
    """Metrics kept per integer answer field (`<prefix>_<field>`, e.g. mae_<field>), grouped by prefix: one grouped
    bar chart each, instead of one chart per key."""
    groups: dict[str, dict[str, str]] = {}
    for key in keys:
        for name in int_fields(task):
            if key.endswith(f"_{name}"):
                groups.setdefault(key[: -len(name) - 1], {})[name] = key
    return [{"prefix": prefix, "fields": list(by_field), "keys": list(by_field.values())}
            for prefix, by_field in groups.items() if len(by_field) > 1]


def trend_metrics(task: Task, keys: Sequence[str]) -> list[str]:
    """What the across-cycles charts draw: the headline and the metrics the verdict compares."""
    return [key for key in dict.fromkeys([task.headline_metric, *task.verdict_metrics]) if key in keys]


def metric_table(task: Task, runs: Sequence[StageRun], keys: Sequence[str]) -> list[dict[str, Any]]:
    """One row per metric: its direction and each run's value, the best of them marked."""
    higher = directions(task)
    rows = []
    for key in keys:
        values = [run.result.get("metrics", {}).get(key) for run in runs]
        present = [value for value in values if value is not None]
        best = (max if higher[key] else min)(present) if len(set(present)) > 1 else None
        rows.append({"key": key, "higher_is_better": higher[key], "headline": key == task.headline_metric,
                     "cells": [{"value": value, "best": value is not None and value == best} for value in values]})
    return rows


def cycle_panels(runs: Sequence[StageRun]) -> list[dict[str, Any]]:
    """Runs of loop cycles grouped by frozen eval set: a trend is drawn only within one set."""
    panels: dict[str, list[StageRun]] = {}
    for run in runs:
        if run.cycle_id:
            panels.setdefault(eval_set_hash(run), []).append(run)
    return [{"eval_set_hash": key, "runs": group} for key, group in panels.items()]


def task_section(task: Task, runs: list[StageRun]) -> dict[str, Any]:
    keys = metric_keys(task, runs)
    grouped = {key for group in per_field_metrics(task, keys) for key in group["keys"]}
    keys = [key for key in keys if key not in grouped] + [key for key in keys if key in grouped]
    eval_sets = list(dict.fromkeys(eval_set_hash(run) for run in runs))
    return {
        "task": task, "runs": [(run, label(run)) for run in runs], "table": metric_table(task, runs, keys),
        "eval_sets": eval_sets, "per_field": per_field_metrics(task, keys), "cycle_panels": cycle_panels(runs),
        "has_charts": any(run.result.get("charts") for run in runs),
    }


def task_payload(task: Task, runs: list[StageRun]) -> dict[str, Any]:
    """One task type's part of the comparison JSON (static/js/compare.js): metric keys and directions, the
    per-field groups, the answer fields, and per run its metrics, per-example errors and the task's chart data."""
    keys = metric_keys(task, runs)
    higher = directions(task)
    errors: dict[int, list[float]] = {}
    for run_id, error in (EvalExample.objects.filter(run__in=runs).order_by("run", "index")
                          .values_list("run_id", "abs_error")):
        errors.setdefault(run_id, []).append(error)
    return {
        "name": task.name, "label": task.label, "headline_metric": task.headline_metric, "metric_keys": keys,
        "higher_is_better": {key: higher[key] for key in keys}, "per_field": per_field_metrics(task, keys),
        "trend_metrics": trend_metrics(task, keys),
        "answer_fields": answer_fields(task),
        "eval_sets": list(dict.fromkeys(eval_set_hash(run) for run in runs)),
        "runs": [{"id": run.pk, "label": label(run), "predictor": run.params.get("predictor"),
                  "cycle": run.cycle.index + 1 if run.cycle else None, "metrics": run.result.get("metrics", {}),
                  "eval_set_hash": eval_set_hash(run), "charts": run.result.get("charts", {}),
                  "errors": errors.get(run.pk, [])}
                 for run in runs],
    }


def answer_text(answer: Any) -> str:
    """An answer as the worst-examples table shows it: JSON (a label, a letter, an object), "—" when there is none."""
    return "—" if answer is None else json.dumps(answer, ensure_ascii=False)


def field_pairs(gold: Any, parsed: Any, fields: Sequence[str]) -> list[tuple[Any, Any]] | None:
    """(gold, parsed) per integer answer field, when the answers are objects of those fields."""
    if not fields or not isinstance(gold, Mapping) or not isinstance(parsed, Mapping | None):
        return None
    return [(gold.get(name), (parsed or {}).get(name)) for name in fields]


def worst_examples(run: StageRun | None) -> dict[str, Any]:
    """The run's examples with the largest per-example error, answers rendered for the table: one column per
    integer answer field where the task has them, else the gold and parsed answers as JSON."""
    if run is None:
        return {"fields": [], "rows": []}
    fields = int_fields(run.dataset.task)
    examples = list(EvalExample.objects.filter(run=run).order_by("-abs_error", "index")[:WORST_EXAMPLES])
    rows = [{"index": ex.index, "text": ex.request_text, "gold": answer_text(ex.target),
             "parsed": answer_text(ex.parsed), "pairs": field_pairs(ex.target, ex.parsed, fields),
             "raw": ex.raw_output, "valid": ex.valid, "error": ex.abs_error} for ex in examples]
    by_field = bool(rows) and all(row["pairs"] is not None for row in rows)
    return {"fields": fields if by_field else [], "rows": rows}


@require_GET
def compare(request):
    return _compare_page(request)


def _compare_page(request, import_form: ImportEvalForm | None = None):
    runs = selected_runs(request)
    cycles = Cycle.objects.filter(pk__in={run.cycle_id for run in runs if run.cycle_id}).select_related("loop")
    chains = {run.chain_id for run in runs if not run.cycle_id}
    verdict_runs = StageRun.objects.filter(kind=StageRun.Kind.VERDICT, status=StageRun.Status.SUCCESS, chain_id__in=chains)
    worst_run = next((run for run in runs if str(run.pk) == request.GET.get("worst")), runs[0] if runs else None)
    recent = (StageRun.objects.filter(kind=StageRun.Kind.EVALUATE, status=StageRun.Status.SUCCESS)
              .select_related("cycle", "dataset")[:60])
    return render(request, "evals/compare.html", {
        "runs": [(run, label(run)) for run in runs],
        "sections": [task_section(task, group) for task, group in task_groups(runs)],
        "cycles": cycles, "verdict_runs": verdict_runs,
        "worst_run": worst_run, "worst": worst_examples(worst_run),
        "recent": [(run, label(run)) for run in recent], "selected": {run.pk for run in runs},
        "query": request.GET.urlencode(), "import_form": import_form or ImportEvalForm(),
    }, status=400 if import_form is not None else 200)


@require_POST
@permission_required("runs.add_stagerun", raise_exception=True)
def compare_import(request):
    """A run_eval result uploaded as a finished evaluation; the comparison page then shows it."""
    form = ImportEvalForm(request.POST, request.FILES)
    if form.is_valid():
        rows, summary = form.cleaned_data["parsed"]
        try:
            run = import_result(rows, summary, user=request.user, source=form.cleaned_data["results"].name)
        except ImportRefused as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Imported as evaluation #%(pk)s.") % {"pk": run.pk})
            return redirect(f"{reverse('compare')}?runs={run.pk}")
    return _compare_page(request, import_form=form)


@require_GET
def compare_data(request):
    """Everything the comparison charts draw, read by static/js/compare.js: one entry per task type under "tasks"."""
    return JsonResponse({"tasks": [task_payload(task, group) for task, group in task_groups(selected_runs(request))]})


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


TEST_NAMES = {"mcnemar": gettext_lazy("McNemar's test"), "sign": gettext_lazy("Sign test"),
              "wilcoxon": gettext_lazy("Wilcoxon signed-rank test")}
INTERVAL_KEYS = ("a", "b", "delta", "ci_low", "ci_high", "higher_is_better")


def reading(entry: Mapping[str, Any]) -> str | None:
    """"better", "worse" (B against A) or "unclear" from a statistic's interval and direction; None without them."""
    low, high, higher = entry.get("ci_low"), entry.get("ci_high"), entry.get("higher_is_better")
    if low is None or high is None or higher is None:
        return None
    if low > 0:
        return "better" if higher else "worse"
    if high < 0:
        return "worse" if higher else "better"
    return "unclear"


def interval_row(key: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    return {"key": key, **{name: entry.get(name) for name in INTERVAL_KEYS}, "reading": reading(entry)}


def latency_rows(latency: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    """The latency statistics as table rows ({a, b, ...} entries) and as plain facts (single values)."""
    rows, facts = [], []
    for key, value in latency.items():
        if isinstance(value, Mapping):
            rows.append({**interval_row(key, value), "ratio": value.get("ratio")})
        else:
            facts.append((key, value))
    return rows, facts


def fact(value: Any) -> str:
    """A statistic's value as the page shows it: floats to four significant digits."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "—" if value is None else str(value)


def _ab_tests_page(request, form: ABTestForm):
    tests = ABTest.objects.select_related("run_a__dataset", "run_b")[:50]
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
    """Whatever statistics the test stored: metric deltas, per-example error and its paired test, latency, and the
    task's charts of both models (drawn by static/js/ab.js)."""
    test = get_object_or_404(ABTest.objects.select_related("run_a__dataset", "run_b__dataset"), pk=pk)
    result = test.result
    paired = dict(result.get("test") or {})
    name = paired.pop("name", None)
    p_value = paired.pop("p_value", None)
    latency, latency_facts = latency_rows(result.get("latency") or {})
    confidence = (result.get("bootstrap") or {}).get("confidence")
    charts = result.get("charts") or {}
    return render(request, "evals/ab_test.html", {
        "test": test, "result": result, "task": test.run_a.dataset.task,
        "name_a": ab.run_name(test.run_a), "name_b": ab.run_name(test.run_b),
        "metrics": [interval_row(key, entry) for key, entry in (result.get("metrics") or {}).items()],
        "error": interval_row("error", result["error"]) if result.get("error") else None,
        "test_name": TEST_NAMES.get(name, name), "p_value": p_value,
        "test_facts": [(key, fact(value)) for key, value in paired.items() if not isinstance(value, Mapping | list)],
        "latency": latency, "latency_facts": latency_facts,
        "confidence_percent": round(100 * confidence) if confidence is not None else None,
        "has_charts": any(charts.values()),
        "has_matrix": any(isinstance(chart, Mapping) and "matrix" in chart
                          for side in charts.values() for chart in (side or {}).values()),
        "fields_json": json.dumps(answer_fields(test.run_a.dataset.task)),
    })


@require_GET
def ab_test_data(request, pk: int):
    """The stored statistics, read by static/js/ab.js (deltas with their intervals, the task's charts of A and B)."""
    test = get_object_or_404(ABTest.objects.select_related("run_a", "run_b"), pk=pk)
    return JsonResponse({**test.result, "names": {"a": ab.run_name(test.run_a), "b": ab.run_name(test.run_b)},
                         "run_predictors": {"a": test.run_a.params.get("predictor"),
                                            "b": test.run_b.params.get("predictor")}})
