"""Models, releases, exports and API tokens (DESIGN §3b): engineers evaluate, export and promote; everyone who
may look sees what is in service."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from pipeline.tasks.registry import all_tasks, get_task, task_names
from webapp.evals.ab import candidate_runs, eval_set_hash
from webapp.runs import services
from webapp.runs.models import StageRun
from webapp.serving import evaluation, exports, registry, releases, tokens
from webapp.serving.forms import BaseModelForm, EvaluateForm, ExportForm, PromoteForm, TokenForm
from webapp.serving.models import ApiToken, RegisteredModel


@require_GET
@permission_required("serving.view_registeredmodel", raise_exception=True)
def model_list(request):
    return _model_list_page(request)


def _model_list_page(request, base_form: BaseModelForm | None = None):
    for task in all_tasks():
        registry.register_remote_models(task)
    in_service = {task: release.model_id for task in task_names() if (release := releases.in_service(task))}
    models = RegisteredModel.objects.select_related("source_run")[:200]
    return render(request, "serving/models.html", {"models": models, "in_service": in_service,
                                                   "base_form": base_form or BaseModelForm()},
                  status=400 if base_form is not None else 200)


@require_POST
@permission_required("runs.add_stagerun", raise_exception=True)
def model_add_base(request):
    form = BaseModelForm(request.POST)
    if not form.is_valid():
        return _model_list_page(request, base_form=form)
    model = registry.register_base_model(get_task(form.cleaned_data["task"]), form.cleaned_data["model_name"])
    messages.success(request, _("Model #%(pk)s added; evaluate it on a frozen set to compare it.") % {"pk": model.pk})
    return redirect("model_detail", pk=model.pk)


def _model_context(request, model: RegisteredModel, **forms) -> dict:
    evals = list(evaluation.evaluations(model).select_related("dataset")[:50])
    own_hashes = {eval_set_hash(run) for run in evals if run.status == StageRun.Status.SUCCESS}
    others = [run for run in candidate_runs()[:300] if eval_set_hash(run) in own_hashes and run not in evals]
    current = releases.in_service(model.task_type)
    return {
        "model": model, "task": model.task, "evaluations": evals, "ab_candidates": others,
        "own_finished": [run for run in evals if run.status == StageRun.Status.SUCCESS],
        "exports": [(run, exports.export_files(run) if (run.result.get("parity") or {}).get("passed") else [])
                    for run in StageRun.objects.filter(kind=StageRun.Kind.EXPORT, params__model_id=model.pk)
                    .order_by("-pk")],
        "in_service": current is not None and current.model_id == model.pk, "current": current,
        "releases": model.releases.select_related("created_by").order_by("-pk"),
        "evaluate_form": forms.get("evaluate_form") or EvaluateForm(model),
        "export_form": forms.get("export_form") or ExportForm(model),
        "promote_form": forms.get("promote_form") or PromoteForm(model),
    }


@require_GET
@permission_required("serving.view_registeredmodel", raise_exception=True)
def model_detail(request, pk: int):
    model = get_object_or_404(RegisteredModel, pk=pk)
    return render(request, "serving/model.html", _model_context(request, model))


@require_POST
@permission_required("runs.add_stagerun", raise_exception=True)
def model_evaluate(request, pk: int):
    model = get_object_or_404(RegisteredModel, pk=pk)
    form = EvaluateForm(model, request.POST)
    if form.is_valid():
        try:
            evaluation.start_evaluation(model, form.cleaned_data["eval_set"],
                                        baselines=form.cleaned_data["baselines"], user=request.user)
        except ValueError as exc:
            form.add_error(None, str(exc))
        except services.QueueUnreachable:
            messages.error(request, services.NOT_QUEUED)
            return redirect("model_detail", pk=pk)
        else:
            messages.success(request, _("Evaluation queued."))
            return redirect("model_detail", pk=pk)
    return render(request, "serving/model.html", _model_context(request, model, evaluate_form=form), status=400)


@require_POST
@permission_required("runs.add_stagerun", raise_exception=True)
def model_export(request, pk: int):
    model = get_object_or_404(RegisteredModel, pk=pk)
    form = ExportForm(model, request.POST)
    if form.is_valid():
        try:
            run = exports.start_export(model, form.cleaned_data["format"], user=request.user)
        except ValueError as exc:
            form.add_error(None, str(exc))
        except services.QueueUnreachable as exc:
            messages.error(request, services.NOT_QUEUED)
            return redirect("run_detail", pk=exc.runs[0].pk)
        else:
            messages.success(request, _("Export queued; it is offered once it passes its parity check."))
            return redirect("run_detail", pk=run.pk)
    return render(request, "serving/model.html", _model_context(request, model, export_form=form), status=400)


@require_POST
@permission_required("serving.add_release", raise_exception=True)
def model_promote(request, pk: int):
    model = get_object_or_404(RegisteredModel, pk=pk)
    form = PromoteForm(model, request.POST)
    if form.is_valid():
        try:
            releases.promote(model, form.cleaned_data["reason"], user=request.user,
                             verdict_run=form.cleaned_data["verdict_run"], ab_test=form.cleaned_data["ab_test"])
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Model #%(pk)s is in service for %(task)s.") % {
                "pk": model.pk, "task": model.task.label})
            return redirect("releases")
    return render(request, "serving/model.html", _model_context(request, model, promote_form=form), status=400)


@require_GET
@permission_required("serving.view_release", raise_exception=True)
def release_list(request):
    tasks = [{"task": get_task(name), "current": releases.in_service(name), "history": releases.history(name)[:50]}
             for name in task_names()]
    return render(request, "serving/releases.html", {"tasks": tasks})


@require_POST
@permission_required("serving.add_release", raise_exception=True)
def release_rollback(request, task: str):
    if task not in task_names():
        raise Http404(_("No such task type."))
    try:
        release = releases.rollback(task, request.POST.get("reason", ""), user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Rolled back: model #%(pk)s is in service again.") % {"pk": release.model_id})
    return redirect("releases")


@require_GET
@permission_required("runs.view_stagerun", raise_exception=True)
def export_download(request, pk: int, name: str):
    run = get_object_or_404(StageRun, pk=pk, kind=StageRun.Kind.EXPORT, status=StageRun.Status.SUCCESS)
    try:
        path = exports.export_file(run, name)
    except ValueError as exc:
        raise Http404(str(exc)) from None
    return FileResponse(path.open("rb"), as_attachment=True, filename=f"export{run.pk}-{path.name}")


@never_cache  # the page that shows a new key once must not be kept by any cache
@permission_required("serving.add_apitoken", raise_exception=True)
def token_list(request):
    form = TokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        token, new_key = tokens.create_token(form.cleaned_data["name"], request.user,
                                             form.cleaned_data["rate_per_minute"])
        messages.success(request, _("Token created. Copy the key now: it is not shown again."))
        form = TokenForm()
    status = 400 if request.method == "POST" and new_key is None else 200
    return render(request, "serving/tokens.html", {
        "form": form, "new_key": new_key, "tokens": ApiToken.objects.select_related("created_by")}, status=status)


@require_POST
@permission_required("serving.change_apitoken", raise_exception=True)
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk)
    token.revoke()
    messages.success(request, _("Token %(name)s revoked.") % {"name": str(token)})
    return redirect("api_tokens")
