from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from webapp.datasets.models import Dataset
from webapp.runs import services
from webapp.runs.models import StageRun
from webapp.runs.reconcile import reconcile_runs

RECENT_RUNS = 30


def _dashboard_context() -> dict:
    reconcile_runs()
    runs = StageRun.objects.select_related("dataset")[:RECENT_RUNS]
    return {
        "runs": runs,
        "datasets": Dataset.objects.select_related("frozen_eval_set")[:50],
        "any_active": any(run.is_active for run in runs),
    }


@require_GET
def dashboard(request):
    return render(request, "runs/dashboard.html", _dashboard_context())


@require_GET
def dashboard_partial(request):
    """Polled by htmx while the tab is visible; the same partials as the full page."""
    return render(request, "runs/_dashboard_tables.html", _dashboard_context())


@require_GET
def run_detail(request, pk: int):
    reconcile_runs()
    run = get_object_or_404(StageRun.objects.select_related("dataset"), pk=pk)
    template = "runs/_run_status.html" if request.htmx else "runs/detail.html"
    return render(request, template, {"run": run})


@permission_required("runs.change_stagerun", raise_exception=True)
@require_POST
def run_cancel(request, pk: int):
    run = get_object_or_404(StageRun, pk=pk)
    if run.is_finished:
        messages.warning(request, _("This run has already finished."))
    else:
        services.cancel(run)
        messages.info(request, _("Cancel requested."))
    return redirect("run_detail", pk=pk)


@permission_required("runs.change_stagerun", raise_exception=True)
@require_POST
def run_requeue(request, pk: int):
    run = get_object_or_404(StageRun, pk=pk)
    try:
        rows = services.requeue(run)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Re-queued %(n)s stage(s).") % {"n": len(rows)})
    return redirect("run_detail", pk=pk)


@login_not_required
@require_GET
def healthz(request):
    return HttpResponse("ok", content_type="text/plain")
