from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from pipeline.data.build_train_valid_test import SPLITS, STATS_FILE
from pipeline.data.export import EXPORT_FORMATS, export_filename
from pipeline.data.importer import ImportFailed
from pipeline.tasks.registry import all_tasks
from webapp.datasets import field, services
from webapp.datasets.forms import DataCycleForm, ImportForm, LabelledImportForm, import_error_messages
from webapp.datasets.models import Dataset, FrozenEvalSet, LabelledRequest
from webapp.datasets.stages import DROPPED, GENERATED, KEPT
from webapp.runs import services as run_services
from webapp.runs.reconcile import reconcile_runs

PAGE_SIZE = 25


def downloadable_files() -> dict[str, str]:
    """name -> description; nothing outside this list can be downloaded."""
    files = {f"{split}.jsonl": _("%(split)s split (rows with targets)") % {"split": split} for split in SPLITS}
    for fmt in EXPORT_FORMATS:
        for split in SPLITS:
            files[export_filename(fmt, split)] = _("%(split)s split, %(format)s format") % {"split": split, "format": fmt}
    files[STATS_FILE] = _("Split statistics")
    files[GENERATED] = _("All generated rows, before filtering")
    files[KEPT] = _("Rows kept by the filters")
    files[DROPPED] = _("Dropped rows with reasons")
    return files


@permission_required("runs.add_stagerun", raise_exception=True)
@require_http_methods(["GET", "POST"])
def dataset_new(request):
    form = DataCycleForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.start_data_cycle(**form.cleaned_data, user=request.user)
        except run_services.QueueUnreachable as exc:
            messages.error(request, run_services.NOT_QUEUED)
            return redirect("dataset_detail", pk=exc.runs[0].dataset_id)
        messages.success(request, _("Started generate → filter → split → freeze for %(name)s.") % {"name": dataset.name})
        return redirect("dataset_detail", pk=dataset.pk)
    return render(request, "datasets/new.html", {"form": form})


@permission_required("runs.add_stagerun", raise_exception=True)
@require_http_methods(["GET", "POST"])
def dataset_import(request):
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            dataset = services.import_dataset(
                form.cleaned_data["file"].read().splitlines(), name=form.cleaned_data["name"],
                task=form.cleaned_data["task"], user=request.user,
            )
        except ImportFailed as exc:
            form.add_error("file", import_error_messages(exc))
        except run_services.QueueUnreachable as exc:
            messages.error(request, run_services.NOT_QUEUED)
            return redirect("dataset_detail", pk=exc.runs[0].dataset_id)
        else:
            messages.success(request, _("Imported %(n)s rows; filtering and splitting now.") % {"n": dataset.params["size"]})
            return redirect("dataset_detail", pk=dataset.pk)
    return render(request, "datasets/import.html", {"form": form})


def field_set_overview() -> list[dict]:
    """Per task type: its labelled requests on each side, and every version of its field set, newest first."""
    counts: dict[tuple[str, str], int] = {}
    for row in LabelledRequest.objects.values("task_type", "assigned").annotate(n=Count("id")):
        counts[(row["task_type"], row["assigned"])] = row["n"]
    versions: dict[str, list[FrozenEvalSet]] = {}
    for frozen in FrozenEvalSet.objects.filter(kind=FrozenEvalSet.Kind.FIELD).order_by("task_type", "-version"):
        versions.setdefault(frozen.task_type, []).append(frozen)
    return [{"task": task, "train": counts.get((task.name, field.TRAIN), 0),
             "field": counts.get((task.name, field.FIELD), 0), "versions": versions.get(task.name, [])}
            for task in all_tasks()]


@require_GET
def field_sets(request):
    """Every task's field set: its versions (version, size, hash, created) and where its labelled requests went."""
    return render(request, "datasets/field_sets.html", {"overview": field_set_overview()})


@permission_required("datasets.add_dataset", raise_exception=True)
@require_http_methods(["GET", "POST"])
def labelled_import(request):
    """Engineers import labelled real requests: all or nothing; each line goes to training or to the field set."""
    form = LabelledImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        task = form.cleaned_data["task"]
        try:
            result = field.import_labelled(form.cleaned_data["file"].read().splitlines(), task=task,
                                           user=request.user)
        except ImportFailed as exc:
            form.add_error("file", import_error_messages(exc))
        else:
            frozen = result["field_set"]
            said = _("Imported %(n)s labelled requests of %(task)s: %(train)s to training, %(field)s to the field "
                     "set.") % {"n": result["train"] + result["field"], "task": task, "train": result["train"],
                                "field": result["field"]}
            if frozen is not None:
                said += " " + _("The field set is now version %(version)s (%(size)s requests, %(hash)s).") % {
                    "version": frozen.version, "size": frozen.size, "hash": frozen.content_hash[:12]}
            messages.success(request, said)
            return redirect("labelled_import")
    return render(request, "datasets/labelled_import.html", {"form": form, "overview": field_set_overview()})


@require_GET
def dataset_detail(request, pk: int):
    dataset = get_object_or_404(Dataset.objects.select_related("frozen_eval_set"), pk=pk)
    split = request.GET.get("split", "train")
    if split not in SPLITS:
        split = "train"
    examples = Paginator(dataset.examples.filter(split=split), PAGE_SIZE).get_page(request.GET.get("page"))
    reason = request.GET.get("reason", "")
    dropped_qs = dataset.dropped.filter(reason=reason) if reason else dataset.dropped.all()
    dropped = Paginator(dropped_qs, PAGE_SIZE).get_page(request.GET.get("dropped_page"))
    runs = list(dataset.runs.order_by("chain_id", "sequence"))
    available = {name: desc for name, desc in downloadable_files().items() if (dataset.directory / name).exists()}
    return render(
        request,
        "datasets/detail.html",
        {
            "dataset": dataset,
            "task": dataset.task,
            "runs": runs,
            "any_active": any(run.is_active for run in runs),
            "axes": int_fields(dataset),
            "split": split,
            "splits": SPLITS,
            "examples": examples,
            "dropped": dropped,
            "reason": reason,
            "downloads": available,
        },
    )


@require_GET
def dataset_runs_partial(request, pk: int):
    """Polled while stages run; once all are done the page reloads to show the results."""
    reconcile_runs()
    dataset = get_object_or_404(Dataset, pk=pk)
    runs = list(dataset.runs.order_by("chain_id", "sequence"))
    any_active = any(run.is_active for run in runs)
    response = render(request, "datasets/_runs.html", {"dataset": dataset, "runs": runs, "any_active": any_active})
    if not any_active:
        response["HX-Refresh"] = "true"
    return response


@require_GET
def dataset_stats(request, pk: int):
    """What the histogram charts read (STYLE §6: charts read a JSON endpoint)."""
    dataset = get_object_or_404(Dataset, pk=pk)
    return JsonResponse({"axes": int_fields(dataset), "stats": dataset.stats})


def int_fields(dataset: Dataset) -> list[str]:
    """The answer fields the dataset page charts as histograms (integer fields of the task's answer)."""
    return [field.key for field in dataset.task.answer_fields if field.kind == "int"]


@require_GET
def dataset_download(request, pk: int, name: str):
    dataset = get_object_or_404(Dataset, pk=pk)
    if name not in downloadable_files():
        raise Http404(_("No such file."))
    path = dataset.directory / name
    if not path.exists():
        raise Http404(_("This file has not been written yet."))
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"ds{dataset.pk}-{name}")


@require_GET
def frozen_download(request, pk: int):
    dataset = get_object_or_404(Dataset.objects.select_related("frozen_eval_set"), pk=pk)
    if not dataset.frozen_eval_set:
        raise Http404(_("This dataset has no frozen eval set yet."))
    frozen = dataset.frozen_eval_set
    return FileResponse(open(frozen.path, "rb"), as_attachment=True, filename=f"frozen-{frozen.content_hash[:12]}.jsonl")
