"""What the inference worker runs for the playground: warm predictors behind an LRU cache.

Model specs are strings so that a request row can name them: "rule_baseline",
"prompt_baseline" (the default base model with few-shot examples from the newest
split dataset), "run:<id>" (a finished training run: its adapter, or the model
Mistral fine-tuned for it) and "remote:<model>" (a Mistral chat model over the
API, offered when MISTRAL_API_KEY is set).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from pipeline.eval.run_eval import predictor_factory
from pipeline.infer.base import Predictor
from pipeline.infer.model_cache import ModelCache
from pipeline.infer.rule_baseline import RuleBaseline
from pipeline.tasks.hidden_params import AXES, parse
from pipeline.train.base_models import DEFAULT_BASE_MODEL
from webapp.datasets.models import FLAGSHIP_TASK, Dataset
from webapp.runs.models import StageRun
from webapp.secrets import redact, secret

logger = logging.getLogger(__name__)


def _build(kind_and_model: str, extra: str | None) -> Predictor:
    kind, model_name = kind_and_model.split("|", 1)
    if kind == "remote":
        return predictor_factory("remote", model_name=model_name, few_shot_path=extra)
    if kind == "fine_tuned":
        return predictor_factory("fine_tuned", model_name=model_name, adapter=extra, decode="constrained")
    return predictor_factory("prompt_baseline", model_name=model_name, few_shot_path=extra, decode="constrained")


_cache: ModelCache[Predictor] = ModelCache(max_models=settings.FTLOOP_WARM_MODELS, loader=_build)
_rules = RuleBaseline()


def model_choices() -> list[tuple[str, str]]:
    """(spec, label) for the form: the baselines and every finished training run, newest first."""
    choices = [("rule_baseline", "rule baseline"), ("prompt_baseline", f"prompt baseline ({DEFAULT_BASE_MODEL})")]
    if secret("MISTRAL_API_KEY"):
        choices += [(f"remote:{model}", f"remote · {model}") for model in settings.FTLOOP_REMOTE_MODELS]
    trained = StageRun.objects.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS,
                                      dataset__task_type=FLAGSHIP_TASK).order_by("-pk")[:20]
    choices += [(f"run:{run.pk}", f"fine-tuned · run #{run.pk} ({run.result.get('fine_tuned_model') or run.params.get('model_name')})")
                for run in trained if run.result.get("adapter_dir") or run.result.get("fine_tuned_model")]
    return choices


def _newest_train_split() -> str | None:
    newest = Dataset.objects.filter(stats__has_key="counts").order_by("-pk").first()
    return str(newest.directory / "train.jsonl") if newest else None


def label(spec: str) -> str:
    return dict(model_choices()).get(spec, spec)


def predictor_for(spec: str) -> Predictor:
    if spec == "rule_baseline":
        return _rules
    if spec == "prompt_baseline":
        return _cache.get_or_load((f"prompt_baseline|{DEFAULT_BASE_MODEL}", _newest_train_split()))
    if spec.startswith("remote:"):
        return _cache.get_or_load((f"remote|{spec[len('remote:'):]}", _newest_train_split()))
    if spec.startswith("run:") and spec[4:].isdigit():
        run = StageRun.objects.get(pk=int(spec[4:]), kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS)
        if run.result.get("fine_tuned_model"):
            return _cache.get_or_load((f"remote|{run.result['fine_tuned_model']}", None))
        return _cache.get_or_load((f"fine_tuned|{run.params.get('model_name') or DEFAULT_BASE_MODEL}",
                                   run.result["adapter_dir"]))
    raise ValueError(f"unknown model {spec!r}")


def answer(text: str, specs: list[str]) -> list[dict[str, Any]]:
    """One result per model: the raw output, the parsed values, validity and latency; or, for a model that
    failed (a remote service down, a run whose files are gone), its error, so it never hides the others."""
    results = []
    for spec in specs:
        try:
            prediction = predictor_for(spec).predict([text])[0]
        except Exception as exc:  # any model's failure is that model's result
            logger.exception("playground model %s failed", spec)
            results.append({"spec": spec, "label": label(spec), "values": None, "valid": False,
                            "error": redact(f"{type(exc).__name__}: {exc}")})
            continue
        values = parse(prediction.raw)
        results.append({
            "spec": spec,
            "label": label(spec),
            "raw": prediction.raw,
            "values": dict(zip(AXES, values)) if values else None,
            "valid": values is not None,
            "latency_ms": round(prediction.latency_ms, 1),
            "tokens_decoded": prediction.tokens_decoded,
        })
    return results
