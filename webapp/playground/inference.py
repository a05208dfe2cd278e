"""What the inference worker runs for the playground: warm predictors behind an LRU cache.

Model specs are strings so that a request row can name them: "rule_baseline",
"prompt_baseline" (the default base model with few-shot examples from the newest
split dataset) and "run:<id>" (a finished training run's adapter).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from pipeline.eval.run_eval import predictor_factory
from pipeline.infer.base import Predictor
from pipeline.infer.model_cache import ModelCache
from pipeline.infer.rule_baseline import RuleBaseline
from pipeline.tasks.hidden_params import AXES, parse
from pipeline.train.base_models import DEFAULT_BASE_MODEL
from webapp.datasets.models import Dataset
from webapp.runs.models import StageRun


def _build(kind_and_model: str, extra: str | None) -> Predictor:
    kind, model_name = kind_and_model.split("|", 1)
    if kind == "fine_tuned":
        return predictor_factory("fine_tuned", model_name=model_name, adapter=extra, decode="constrained")
    return predictor_factory("prompt_baseline", model_name=model_name, few_shot_path=extra, decode="constrained")


_cache: ModelCache[Predictor] = ModelCache(max_models=settings.FTLOOP_WARM_MODELS, loader=_build)
_rules = RuleBaseline()


def model_choices() -> list[tuple[str, str]]:
    """(spec, label) for the form: the baselines and every finished training run, newest first."""
    choices = [("rule_baseline", "rule baseline"), ("prompt_baseline", f"prompt baseline ({DEFAULT_BASE_MODEL})")]
    trained = StageRun.objects.filter(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS).order_by("-pk")[:20]
    choices += [(f"run:{run.pk}", f"fine-tuned · run #{run.pk} ({run.params.get('model_name')})") for run in trained]
    return choices


def label(spec: str) -> str:
    return dict(model_choices()).get(spec, spec)


def predictor_for(spec: str) -> Predictor:
    if spec == "rule_baseline":
        return _rules
    if spec == "prompt_baseline":
        newest = Dataset.objects.filter(stats__has_key="counts").order_by("-pk").first()
        few_shot = str(newest.directory / "train.jsonl") if newest else None
        return _cache.get_or_load((f"prompt_baseline|{DEFAULT_BASE_MODEL}", few_shot))
    if spec.startswith("run:") and spec[4:].isdigit():
        run = StageRun.objects.get(pk=int(spec[4:]), kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS)
        return _cache.get_or_load((f"fine_tuned|{run.params.get('model_name') or DEFAULT_BASE_MODEL}",
                                   run.result["adapter_dir"]))
    raise ValueError(f"unknown model {spec!r}")


def answer(text: str, specs: list[str]) -> list[dict[str, Any]]:
    """One result per model: the raw output, the parsed values, validity and latency."""
    results = []
    for spec in specs:
        prediction = predictor_for(spec).predict([text])[0]
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
