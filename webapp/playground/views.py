from __future__ import annotations

import json
import random
from typing import Any

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from pipeline.data.jsonl import dumps, read_jsonl
from pipeline.tasks.registry import DEFAULT_TASK, Task, all_tasks, get_task
from pipeline.tasks.text import detect_language
from webapp.datasets import field
from webapp.datasets.models import FrozenEvalSet
from webapp.playground.forms import CorrectionForm, PlaygroundForm
from webapp.playground.models import Correction, PlaygroundRequest
from workers.tasks import predict_playground


def task_named(name: str | None) -> Task:
    """The task a page or request names (the default task when none), 404 for an unknown one."""
    try:
        return get_task(name or DEFAULT_TASK)
    except ValueError as error:
        raise Http404(str(error)) from None


def answer_fields(task: Task) -> list[dict[str, Any]]:
    """The task's answer fields as plain data, for the template and the chart script."""
    return [{"key": f.key, "kind": f.kind, "choices": list(f.choices), "low": f.low, "high": f.high}
            for f in task.answer_fields]


def shown_results(task: Task, results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result with its answer fields filled in: what the result cards show and the correction form starts
    from."""
    shown = []
    for result in results:
        values = dict(result.get("display") or [])
        fields = [field | {"value": values.get(field["key"])} for field in answer_fields(task)]
        shown.append(result | {"fields": fields})
    return shown


def answer_text(task: Task, answer: Any) -> str:
    """An answer in one line for tables: the value of a one-field answer, "key value" pairs otherwise."""
    if answer is None:
        return ""
    pairs = task.display(answer)
    if len(pairs) == 1:
        return str(pairs[0][1])
    return " · ".join(f"{key} {value}" for key, value in pairs)


@permission_required("playground.add_playgroundrequest", raise_exception=True)
@require_http_methods(["GET", "POST"])
def playground(request):
    task = task_named(request.POST.get("task") or request.GET.get("task"))
    form = PlaygroundForm(request.POST or None, task=task, initial={"models": ["rule_baseline"]})
    fields = answer_fields(task)
    context = {"form": form, "task": task, "tasks": all_tasks(), "answer_fields": fields,
               "fields_json": json.dumps(fields), "charted": any(f["kind"] == "int" for f in fields)}
    if request.method == "POST" and form.is_valid():
        row = PlaygroundRequest.objects.create(task_type=task.name, text=form.cleaned_data["text"],
                                               model_specs=form.cleaned_data["models"], created_by=request.user)
        try:
            predict_playground.delay(row.pk).get(timeout=settings.FTLOOP_PLAYGROUND_TIMEOUT_S)
        except CeleryTimeout:
            row.error = _("The inference worker did not answer within %(s)s s; is it running?") % {
                "s": settings.FTLOOP_PLAYGROUND_TIMEOUT_S}
        except (OperationalError, RedisError, RuntimeError):  # the broker or the result backend is down
            row.error = _("The task queue (Redis) is unreachable, so no model could answer; try again once it is "
                          "back.")
            row.save(update_fields=["error"])
        else:
            row.refresh_from_db()
        context |= {"row": row, "results": shown_results(task, row.results), "results_json": json.dumps(row.results)}
    template = "playground/_results.html" if request.htmx and request.method == "POST" else "playground/playground.html"
    return render(request, template, context)


@require_GET
def sample(request):
    """A random request of the task's newest synthetic frozen set (else its field set), with its gold answer."""
    try:
        task = get_task(request.GET.get("task") or DEFAULT_TASK)
    except ValueError as error:
        return JsonResponse({"error": str(error)}, status=404)
    sets = FrozenEvalSet.objects.filter(task_type=task.name).order_by("-created_at")
    # A synthetic set first: every row has its full answer (a field row may carry directions only).
    frozen = sets.filter(kind=FrozenEvalSet.Kind.SYNTHETIC).first() or sets.first()
    if not frozen:
        return JsonResponse({"error": _("No frozen eval set of %(task)s yet.") % {"task": task.label}}, status=404)
    row = random.choice(read_jsonl(frozen.path))
    return JsonResponse({"text": task.text(row), "answer": task.answer(row)})


@permission_required("playground.add_correction", raise_exception=True)
@require_POST
def correct(request, pk: int):
    row = get_object_or_404(PlaygroundRequest, pk=pk)
    form = CorrectionForm(request.POST, task=row.task)
    if not form.is_valid():
        return HttpResponse(_("Not saved: %(errors)s") % {"errors": form.errors.as_text()}, status=400)
    label = form.cleaned_data["model_label"]
    predicted = next((r.get("parsed") for r in row.results if r["label"] == label), None)
    language = detect_language(row.text)
    correction = Correction.objects.create(
        task_type=row.task_type, request=row, model_label=label, language=language,
        predicted=predicted, verdict=form.cleaned_data["verdict"], corrected=form.corrected(),
        note=form.cleaned_data["note"], created_by=request.user,
    )
    if correction.training_answer is None:  # "bad" without an answer: a spot-check only
        return HttpResponse(_("Saved, thank you."))
    try:
        labelled = field.label_request(row.task, row.text, correction.training_answer, language=language,
                                       origin=field.CORRECTION, user=request.user)
    except ValueError as error:  # e.g. a prediction marked good that the task cannot take as a label
        return HttpResponse(format_html('<span data-testid="labelled" data-assigned="">{}</span>', _(
            "Saved as a spot-check; not labelled: %(why)s") % {"why": error}))
    if labelled.assigned == field.FIELD:
        frozen = field.field_set(row.task)
        said = _("Saved, thank you: added to the field set (version %(version)s, %(size)s requests).") % {
            "version": frozen.version, "size": frozen.size}
    else:
        said = _("Saved, thank you: added to training data (the next dataset of %(task)s).") % {"task": row.task_type}
    return HttpResponse(format_html('<span data-testid="labelled" data-assigned="{}">{}</span>', labelled.assigned,
                                    said))


def exported(task: Task, correction: Correction) -> dict[str, Any]:
    """One JSONL line: the task's own text and answer keys (so the dataset import reads it back), then who/what."""
    return {task.text_key: correction.request.text, "language": correction.language,
            task.answer_key: correction.training_answer, "task": task.name, "verdict": correction.verdict,
            "model": correction.model_label,
            "by": correction.created_by.get_username() if correction.created_by else None,
            "at": correction.created_at.isoformat()}


@require_GET
def corrections(request):
    rows = Correction.objects.select_related("request", "created_by", "used_in_dataset")
    verdict, language, used = request.GET.get("verdict", ""), request.GET.get("language", ""), request.GET.get("used", "")
    task_type = request.GET.get("task", "")
    if task_type:
        rows = rows.filter(task_type=task_type)
    if verdict:
        rows = rows.filter(verdict=verdict)
    if language:
        rows = rows.filter(language=language)
    if used in ("yes", "no"):
        rows = rows.filter(used_in_dataset__isnull=used == "no")
    tasks = {task.name: task for task in all_tasks()}
    if request.GET.get("format") == "jsonl":
        lines = [dumps(exported(tasks[c.task_type], c)) for c in rows
                 if c.task_type in tasks and c.training_answer is not None]
        response = HttpResponse("\n".join(lines) + ("\n" if lines else ""), content_type="application/jsonl")
        response["Content-Disposition"] = 'attachment; filename="corrections.jsonl"'
        return response
    shown = [{"correction": c, "task": tasks.get(c.task_type),
              "predicted": answer_text(tasks[c.task_type], c.predicted) if c.task_type in tasks else "",
              "corrected": answer_text(tasks[c.task_type], c.corrected) if c.task_type in tasks else ""}
             for c in rows[:500]]
    return render(request, "playground/corrections.html", {
        "rows": shown, "tasks": list(tasks.values()), "task_type": task_type, "verdict": verdict,
        "language": language, "languages": sorted({code for task in tasks.values() for code in task.languages}),
        "used": used, "query": request.GET.urlencode()})
