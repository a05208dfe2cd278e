from __future__ import annotations

import json
import random

from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from pipeline.data.jsonl import dumps, read_jsonl
from pipeline.tasks.text import detect_language
from pipeline.tasks.hidden_params import AXES
from webapp.datasets.models import FrozenEvalSet
from webapp.playground.forms import CorrectionForm, PlaygroundForm
from webapp.playground.models import Correction, PlaygroundRequest
from workers.tasks import predict_playground


@permission_required("playground.add_playgroundrequest", raise_exception=True)
@require_http_methods(["GET", "POST"])
def playground(request):
    form = PlaygroundForm(request.POST or None, initial={"models": ["rule_baseline"]})
    context = {"form": form, "axes": AXES}
    if request.method == "POST" and form.is_valid():
        row = PlaygroundRequest.objects.create(text=form.cleaned_data["text"], model_specs=form.cleaned_data["models"],
                                               created_by=request.user)
        try:
            predict_playground.delay(row.pk).get(timeout=settings.FTLOOP_PLAYGROUND_TIMEOUT_S)
        except CeleryTimeout:
            row.error = _("The inference worker did not answer within %(s)s s; is it running?") % {
                "s": settings.FTLOOP_PLAYGROUND_TIMEOUT_S}
        else:
            row.refresh_from_db()
        context["row"] = row
        context["results_json"] = json.dumps(row.results)
    template = "playground/_results.html" if request.htmx and request.method == "POST" else "playground/playground.html"
    return render(request, template, context)


@require_GET
def sample(request):
    """A random request of the newest frozen eval set, with its target, to try in the playground."""
    frozen = FrozenEvalSet.objects.order_by("-created_at").first()
    if not frozen:
        return JsonResponse({"error": _("No frozen eval set yet.")}, status=404)
    row = random.choice(read_jsonl(frozen.path))
    return JsonResponse({"text": row["request_text"], "target": row["target"]})


@permission_required("playground.add_correction", raise_exception=True)
@require_POST
def correct(request, pk: int):
    row = get_object_or_404(PlaygroundRequest, pk=pk)
    form = CorrectionForm(request.POST)
    if not form.is_valid():
        return HttpResponse(_("Not saved: %(errors)s") % {"errors": form.errors.as_text()}, status=400)
    label = form.cleaned_data["model_label"]
    predicted = next((r["values"] for r in row.results if r["label"] == label), None)
    Correction.objects.create(
        request=row, model_label=label, language=detect_language(row.text), predicted=predicted,
        verdict=form.cleaned_data["verdict"], corrected=form.corrected(), note=form.cleaned_data["note"],
        created_by=request.user,
    )
    return HttpResponse(_("Saved, thank you."))


@require_GET
def corrections(request):
    rows = Correction.objects.select_related("request", "created_by", "used_in_dataset")
    verdict, language, used = request.GET.get("verdict", ""), request.GET.get("language", ""), request.GET.get("used", "")
    if verdict:
        rows = rows.filter(verdict=verdict)
    if language:
        rows = rows.filter(language=language)
    if used in ("yes", "no"):
        rows = rows.filter(used_in_dataset__isnull=used == "no")
    if request.GET.get("format") == "jsonl":
        lines = [dumps({"request_text": c.request.text, "language": c.language, "target": c.training_target,
                        "verdict": c.verdict, "model": c.model_label, "by": c.created_by.get_username() if c.created_by else None,
                        "at": c.created_at.isoformat()}) for c in rows if c.training_target]
        response = HttpResponse("\n".join(lines) + ("\n" if lines else ""), content_type="application/jsonl")
        response["Content-Disposition"] = 'attachment; filename="corrections.jsonl"'
        return response
    return render(request, "playground/corrections.html", {
        "rows": rows[:500], "verdict": verdict, "language": language, "used": used, "axes": AXES,
        "query": request.GET.urlencode()})
