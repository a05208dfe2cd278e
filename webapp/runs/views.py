from __future__ import annotations

import io
import zipfile

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required, permission_required
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from kombu.exceptions import OperationalError

from pipeline.tasks.registry import task_names
from pipeline.train.experiment_record import RECORD_NAME
from pipeline.train.sft import ADAPTER_DIRNAME, RUN_CARD_NAME, list_checkpoints
from webapp.datasets.models import Dataset
from webapp.runs import health, loops, services, tracking, training
from webapp.runs.forms import LoopForm, TrainingForm
from webapp.runs.models import Loop, StageRun
from webapp.runs.reconcile import reconcile_runs
from webapp.serving import releases
from workers.tasks import delete_mistral_model

RECENT_RUNS = 30
# A request that changes nothing when the broker refuses its message (re-queue, remote model deletion).
QUEUE_DOWN = gettext_lazy("Nothing was queued and nothing changed: the task queue (Redis) is unreachable. "
                          "Try again once it is back.")


def _dashboard_context() -> dict:
    reconcile_runs()
    runs = StageRun.objects.select_related("dataset")[:RECENT_RUNS]
    return {
        "runs": runs,
        "loops": Loop.objects.all()[:10],
        "datasets": Dataset.objects.select_related("frozen_eval_set")[:50],
        "any_active": any(run.is_active for run in runs),
        "in_service": [release for name in task_names() if (release := releases.in_service(name))],
    }


@require_GET
def dashboard(request):
    return render(request, "runs/dashboard.html", {**_dashboard_context(), "health": health.check()})


@require_GET
def health_banner(request):
    """Polled by the dashboard: a banner while the broker or a queue's workers are down, nothing otherwise."""
    return render(request, "runs/_health_banner.html", {"health": health.check()})


@require_GET
def dashboard_partial(request):
    """Polled by htmx while the tab is visible; the same partials as the full page."""
    return render(request, "runs/_dashboard_tables.html", _dashboard_context())


@require_GET
def run_detail(request, pk: int):
    reconcile_runs()
    run = get_object_or_404(StageRun.objects.select_related("dataset"), pk=pk)
    template = "runs/_run_status.html" if request.htmx else "runs/detail.html"
    context = {"run": run}
    if run.kind == StageRun.Kind.TRAIN:
        context["checkpoints"] = list_checkpoints(run.directory)
        context["artifacts"] = [name for name in ARTIFACTS if (run.directory / ARTIFACTS[name]).exists()]
    return render(request, template, context)


@require_GET
def run_metrics(request, pk: int):
    """Long-format metric rows grouped by key, for the loss charts."""
    run = get_object_or_404(StageRun, pk=pk)
    series: dict[str, dict[str, list]] = {}
    for key, step, value in run.metrics.order_by("key", "step").values_list("key", "step", "value"):
        points = series.setdefault(key, {"step": [], "value": []})
        points["step"].append(step)
        points["value"].append(value)
    return JsonResponse({"status": run.status, "series": series})


@require_GET
def run_tracker(request, pk: int):
    """The run's local tracker run (Trackio, or W&B offline) drawn by ftloop: metrics read back, artifacts listed."""
    run = get_object_or_404(StageRun, pk=pk)
    ref = run.result.get("tracker")
    if not ref or ref.get("backend") == "none":
        raise Http404(_("This run has no tracker run."))
    return render(request, "runs/tracker.html", {"run": run, "ref": ref, "metrics": tracking.read_back(ref)["metrics"]})


# Downloadable training artifacts: name -> path inside the run directory.
ARTIFACTS = {"run_card.json": RUN_CARD_NAME, "adapter.zip": ADAPTER_DIRNAME, "EXPERIMENT.md": RECORD_NAME}


@require_GET
def run_artifact(request, pk: int, name: str):
    run = get_object_or_404(StageRun, pk=pk, kind=StageRun.Kind.TRAIN)
    if name not in ARTIFACTS:
        raise Http404(_("No such artifact."))
    path = run.directory / ARTIFACTS[name]
    if not path.exists():
        raise Http404(_("This artifact has not been written yet."))
    if path.is_dir():
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    archive.write(file, file.relative_to(path))
        buffer.seek(0)
        return FileResponse(buffer, as_attachment=True, filename=f"run{run.pk}-{name}")
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"run{run.pk}-{name}")


@permission_required("runs.add_stagerun", raise_exception=True)
@require_http_methods(["GET", "POST"])
def training_new(request):
    form = TrainingForm(request.POST or None, initial={"dataset": request.GET.get("dataset")})
    if request.method == "POST" and form.is_valid():
        try:
            run = training.start_training(form.cleaned_data["dataset"], form.params(), user=request.user)
        except ValueError as exc:
            form.add_error(None, str(exc))
        except services.QueueUnreachable as exc:
            messages.error(request, services.NOT_QUEUED)
            return redirect("run_detail", pk=exc.runs[0].pk)
        else:
            messages.success(request, _("Training queued (%(trainer)s on %(backend)s).") % {
                "trainer": run.params["trainer"], "backend": run.params["backend"]})
            return redirect("run_detail", pk=run.pk)
    return render(request, "runs/train_new.html", {"form": form})


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
    except services.QueueUnreachable:
        messages.error(request, QUEUE_DOWN)
    else:
        messages.success(request, _("Re-queued %(n)s stage(s).") % {"n": len(rows)})
    return redirect("run_detail", pk=pk)


@permission_required("runs.add_stagerun", raise_exception=True)
@require_POST
def run_evaluate_remote(request, pk: int):
    """Evaluate a Mistral fine-tuned model (a remote predictor) on its dataset's frozen set."""
    run = get_object_or_404(StageRun, pk=pk, kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS)
    model = run.result.get("fine_tuned_model")
    if not model or not run.dataset.frozen_eval_set:
        messages.error(request, _("This run has no fine-tuned remote model or its dataset has no frozen eval set."))
        return redirect("run_detail", pk=pk)
    [evaluation] = services.create_chain([(StageRun.Kind.EVALUATE, {"predictor": "remote", "model_name": model})],
                                         dataset=run.dataset, created_by=request.user)
    try:
        services.enqueue([evaluation])
    except services.QueueUnreachable:
        messages.error(request, services.NOT_QUEUED)
    else:
        messages.success(request, _("Evaluation queued."))
    return redirect("run_detail", pk=evaluation.pk)


@permission_required("runs.change_stagerun", raise_exception=True)
@require_POST
def run_delete_remote_model(request, pk: int):
    run = get_object_or_404(StageRun, pk=pk, kind=StageRun.Kind.TRAIN)
    if not run.result.get("fine_tuned_model"):
        messages.error(request, _("This run has no remote model to delete."))
    else:
        try:
            delete_mistral_model.delay(run.pk)
        except OperationalError:
            messages.error(request, QUEUE_DOWN)
        else:
            messages.info(request, _("Deletion of %(model)s requested.") % {"model": run.result["fine_tuned_model"]})
    return redirect("run_detail", pk=pk)


@permission_required("runs.add_stagerun", raise_exception=True)
@require_http_methods(["GET", "POST"])
def loop_new(request):
    form = LoopForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            loop = loops.start_loop(**form.loop_kwargs(), user=request.user)
        except services.QueueUnreachable as exc:
            messages.error(request, services.NOT_QUEUED)
            return redirect("loop_detail", pk=exc.runs[0].cycle.loop_id)
        messages.success(request, _("Loop started."))
        return redirect("loop_detail", pk=loop.pk)
    return render(request, "runs/loop_new.html", {"form": form})


@require_GET
def loop_detail(request, pk: int):
    reconcile_runs()
    loop = get_object_or_404(Loop, pk=pk)
    cycles = [(cycle, list(cycle.runs.order_by("sequence"))) for cycle in loop.cycle_set.select_related("dataset")]
    context = {"loop": loop, "cycles": cycles, "active": loop.is_active, "yardstick_rows": loops.yardstick_table(loop)}
    template = "runs/_loop_body.html" if request.htmx else "runs/loop_detail.html"
    response = render(request, template, context)
    if request.htmx and not context["active"]:
        response["HX-Refresh"] = "true"
    return response


@login_not_required
@require_GET
def healthz(request):
    """The database, the broker and the live workers of each queue; 503 when any is down (counts only, no names)."""
    report = health.check()
    return JsonResponse(report.as_json(), status=200 if report.ok else 503)
