"""What the inference worker runs for the playground: warm predictors of any task type behind an LRU cache.

Model specs are strings so that a request row can name them, for the request's
task: "rule_baseline" (the task's rules), "prompt_baseline" (the default base
model, with few-shot examples from the newest split dataset of the task),
"run:<id>" (a finished training run of the task: its adapter or head, or the
model Mistral fine-tuned for it) and "remote:<model>" (a Mistral chat model
over the API, offered when MISTRAL_API_KEY is set), "base:<model>" (an outside
base or hub model prompted as the prompt baseline is) and "export:<id>" (a checked
export of a model, e.g. an ONNX int8 head: what the prediction API answers from).
The prediction API (webapp.serving.api) uses the same cache, in the web process.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings

from pipeline.data.jsonl import read_jsonl
from pipeline.eval.predictors import build_predictor
from pipeline.infer.model_cache import ModelCache
from pipeline.tasks.predictors import Prediction, Predictor
from pipeline.tasks.registry import Task, get_task
from pipeline.tasks.text import detect_language
from pipeline.train.base_models import DEFAULT_BASE_MODEL
from webapp.datasets.models import Dataset
from webapp.runs.models import StageRun
from webapp.secrets import redact, secret

logger = logging.getLogger(__name__)

# A warm model: the predictor, and the training params its inputs are prepared with (`Task.prepare_rows`).
Warm = tuple[Predictor, dict[str, Any]]


def _trained_runs(task: Task):
    return StageRun.objects.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS,
                                   dataset__task_type=task.name)


def _has_model(run: StageRun) -> bool:
    return bool(run.result.get("adapter_dir") or run.result.get("fine_tuned_model"))


def model_choices(task: Task) -> list[tuple[str, str]]:
    """(spec, label) for the form: the task's baselines and every finished training run of it, newest first."""
    choices = [("rule_baseline", "rule baseline"), ("prompt_baseline", f"prompt baseline ({DEFAULT_BASE_MODEL})")]
    if secret("MISTRAL_API_KEY"):
        choices += [(f"remote:{model}", f"remote · {model}") for model in settings.FTLOOP_REMOTE_MODELS]
    for run in _trained_runs(task).select_related("dataset").order_by("-pk")[:20]:
        if _has_model(run):
            trainer = run.params.get("trainer") or task.default_trainer
            model = run.result.get("fine_tuned_model") or run.params.get("model_name") or DEFAULT_BASE_MODEL
            choices.append((f"run:{run.pk}", f"fine-tuned · run #{run.pk} · {trainer} ({model})"))
    return choices


def _train_rows(task: Task, dataset: Dataset | None, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    if dataset is None or not (dataset.directory / "train.jsonl").is_file():
        return []
    return task.prepare_rows(read_jsonl(dataset.directory / "train.jsonl"), params)


def _newest_split(task: Task) -> Dataset | None:
    return Dataset.objects.filter(task_type=task.name, stats__has_key="counts").order_by("-pk").first()


def _build(task_and_spec: str, dataset_id: str | None) -> Warm:
    """Load the model of a spec (the cache's loader): `dataset_id` names the split its examples come from."""
    task_name, spec = task_and_spec.split("|", 1)
    task = get_task(task_name)
    if spec.startswith("export:"):
        from webapp.serving.exports import run_predictor

        return run_predictor(task, StageRun.objects.get(pk=int(spec[len("export:"):]))), {}
    if spec.startswith("run:"):
        run = _trained_runs(task).select_related("dataset").get(pk=int(spec[len("run:"):]))
        params = dict(run.params)
        rows = _train_rows(task, run.dataset, params)
        options = {"train_mode": params.get("train_mode"), "train_rows": rows, "few_shot_rows": rows,
                   "seed": run.dataset.params.get("seed") or 0}
        if run.result.get("fine_tuned_model"):
            return build_predictor(task, "remote", model_name=run.result["fine_tuned_model"], **options), params
        return build_predictor(task, "fine_tuned", model_name=params.get("model_name") or DEFAULT_BASE_MODEL,
                               adapter=run.result["adapter_dir"], decode="constrained", **options), params
    dataset = Dataset.objects.filter(pk=dataset_id).first() if dataset_id else None
    rows = _train_rows(task, dataset, {})
    options = {"few_shot_rows": rows, "train_rows": rows, "seed": (dataset.params.get("seed") or 0) if dataset else 0}
    if spec.startswith("remote:"):
        return build_predictor(task, "remote", model_name=spec[len("remote:"):], **options), {}
    base = spec[len("base:"):] if spec.startswith("base:") else DEFAULT_BASE_MODEL
    return build_predictor(task, "prompt_baseline", model_name=base, decode="constrained",
                           **options), {}


_cache: ModelCache[Warm] = ModelCache(max_models=settings.FTLOOP_WARM_MODELS, loader=_build)


def warm_model(task: Task, spec: str) -> Warm:
    """The predictor of a spec for `task` (rules are built on the spot; models come from the warm cache)."""
    if spec == "rule_baseline":
        return task.rule_baseline(), {}
    if spec.startswith("run:") and spec[len("run:"):].isdigit():
        if not _trained_runs(task).filter(pk=int(spec[len("run:"):])).exists():
            raise ValueError(f"no finished {task.name} training run {spec[len('run:'):]}")
        return _cache.get_or_load((f"{task.name}|{spec}", None))
    if spec.startswith("export:") and spec[len("export:"):].isdigit():
        export = StageRun.objects.filter(kind=StageRun.Kind.EXPORT, status=StageRun.Status.SUCCESS,
                                         pk=int(spec[len("export:"):])).first()
        if export is None or export.result.get("task") != task.name:
            raise ValueError(f"no finished {task.name} export {spec[len('export:'):]}")
        return _cache.get_or_load((f"{task.name}|{spec}", None))
    if spec == "prompt_baseline" or any(spec.startswith(prefix) and spec[len(prefix):]
                                        for prefix in ("remote:", "base:")):
        newest = _newest_split(task)
        return _cache.get_or_load((f"{task.name}|{spec}", str(newest.pk) if newest else None))
    raise ValueError(f"unknown model {spec!r}")


def _predict(predictor: Predictor, task: Task, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
    """Whole rows to predictors that read them (a prompt may need more than the text), texts to the others."""
    predict_rows = getattr(predictor, "predict_rows", None)
    return predict_rows(rows) if predict_rows else predictor.predict([task.text(row) for row in rows])


def answer_with(task: Task, spec: str, texts: Sequence[str]) -> list[dict[str, Any]]:
    """One spec's answers to `texts`, in order: the raw output, the parsed answer and how the playground shows it,
    validity and latency. Raises what the model raised (loading or answering)."""
    predictor, params = warm_model(task, spec)
    rows = task.prepare_rows([{task.text_key: text, "language": detect_language(text)} for text in texts], params)
    results = []
    for prediction in _predict(predictor, task, rows):
        parsed = task.parse(prediction.raw)
        results.append({"raw": prediction.raw, "parsed": parsed, "display": [list(pair) for pair in task.display(parsed)],
                        "valid": parsed is not None, "latency_ms": round(prediction.latency_ms, 1),
                        "tokens_decoded": prediction.tokens_decoded})
    return results


def answer(task: Task, text: str, specs: Sequence[str]) -> list[dict[str, Any]]:
    """One result per model (answer_with's fields); a model that fails gets its "error" and the others still
    answer."""
    labels = dict(model_choices(task))
    results = []
    for spec in specs:
        result: dict[str, Any] = {"spec": spec, "label": labels.get(spec, spec)}
        try:
            result |= answer_with(task, spec, [text])[0]
        except Exception as error:  # one failing model must not hide the others' answers
            logger.exception("playground model %s failed", spec)
            result |= {"raw": "", "parsed": None, "display": [], "valid": False, "latency_ms": None,
                       "tokens_decoded": 0, "error": redact(f"{type(error).__name__}: {error}")}
        results.append(result)
    return results
