"""Evaluate one predictor of a text task (``pipeline.tasks.registry``) on a frozen eval set.

The six-parameter task has ``run_eval``; the other task types come here, with
the same three predictors and the same provenance on every result:

- ``rule_baseline``: the task's own rules (``task.rule_baseline()``);
- ``prompt_baseline``: the base model, free greedy generation of the task's prompt;
- ``fine_tuned``: the base model with the LoRA adapter merged, prompted as in
  training, or, for a classification-head adapter (``--trainer cls_head``),
  one forward pass of the head.

Metrics and charts are the task's (``task.metrics``, ``task.charts``); the
runner only predicts, parses with ``task.parse`` and keeps the rows. The
eval-set hash covers every key of the rows (``ALL_FIELDS``), as the freeze
stage of a text task hashes them, and is taken before ``prepare_rows`` adds a
preset's context, so two presets evaluated on one frozen set compare.

Run alone:
    python -m pipeline.eval.task_eval --task four_class --mode rule_baseline --eval-set frozen/<hash>.jsonl \\
        --out results/rule.jsonl
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.data.generate_frozen_eval_set import ALL_FIELDS
from pipeline.data.jsonl import read_jsonl, write_json, write_jsonl
from pipeline.eval.run_eval import default_metrics_path
from pipeline.eval.runner import LogCallback, ProgressCallback, StopCheck, begin_eval, predict_in_batches
from pipeline.tasks.predictors import Prediction, Predictor
from pipeline.tasks.registry import TextTask, get_task, prepare_rows, render_chats, task_names

MODES = ("rule_baseline", "prompt_baseline", "fine_tuned")
TRAINERS = ("sft", "cls_head")


@dataclass(frozen=True)
class TaskEvalResult:
    """One row per example ({"index", "id", "text", "answer", "raw", "parsed", "correct", "latency_ms", ...}),
    the task's metrics (plus n_examples), its chart data, and the provenance."""

    rows: list[dict[str, Any]]
    metrics: dict[str, float | None]
    charts: dict[str, Any]
    provenance: dict[str, Any]


def task_predictor(
    task: TextTask,
    mode: str,
    *,
    model_name: str | None = None,
    adapter: str | None = None,
    trainer: str = "sft",
    train_mode: str | None = None,
    train_rows: Sequence[Mapping[str, Any]] = (),
) -> Predictor:
    """The predictor of a mode, from plain options (CLI flags or a run row's params).

    ``train_rows`` (the train split) size the generation budget: the longest
    answer the model was taught, in ``train_mode``, plus slack. Model
    predictors load weights: build one per evaluation and reuse it.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if trainer not in TRAINERS:
        raise ValueError(f"unknown trainer {trainer!r}; expected one of {', '.join(TRAINERS)}")
    if mode == "rule_baseline":
        given = [name for name, value in (("model_name", model_name), ("adapter", adapter)) if value]
        if given:
            raise ValueError(f"rule_baseline takes no model options, got {', '.join(given)}")
        return task.rule_baseline()
    if mode == "fine_tuned" and not adapter:
        raise ValueError("fine_tuned needs an adapter")
    if mode == "prompt_baseline" and adapter:
        raise ValueError("prompt_baseline is the base model as it is: it takes no adapter")
    from pipeline.train.base_models import DEFAULT_BASE_MODEL  # imported here: --help and rules need no torch

    model_name = model_name or DEFAULT_BASE_MODEL
    if mode == "fine_tuned" and trainer == "cls_head":
        from pipeline.infer.cls_head import HeadPredictor

        return HeadPredictor(model_name, adapter)
    from pipeline.infer.hf import load_model
    from pipeline.infer.task_chat import TaskChatPredictor, answer_token_budget

    loaded = load_model(model_name, adapter)
    chats, _ = render_chats(task, train_rows, train_mode)
    budget = answer_token_budget(loaded, [chat["messages"][-1]["content"] for chat in chats])
    return TaskChatPredictor(loaded, mode, task, train_mode, budget)


def _predict(predictor: Predictor, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
    """Rows to predictors that read them (``predict_rows``), texts to the others."""
    predict_rows = getattr(predictor, "predict_rows", None)
    return predict_rows(rows) if predict_rows else predictor.predict([row["text"] for row in rows])


def run_task_eval(
    task: TextTask,
    predictor: Predictor,
    examples: Sequence[Mapping[str, Any]],
    *,
    params: Mapping[str, Any] | None = None,
    batch_size: int = 8,
    on_progress: ProgressCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    warmup: bool = True,
    dataset_version: str | None = None,
    seed: int | None = None,
    commit: str | None = None,
) -> TaskEvalResult:
    """Predict every example in batches (``should_stop`` polled before each; EvalStopped), then score them.

    ``params`` are the training params the prompts follow (a preset's
    ``train_mode``, ``retrieval_context``...); ``warmup`` sends the first
    request once, unscored, so that p95 latency measures a warm model.
    """
    log = on_log or (lambda line: None)
    provenance = begin_eval(
        predictor, examples, batch_size, log, dataset_version=dataset_version, seed=seed, commit=commit,
        extra={"task": task.name, "train_mode": (params or {}).get("train_mode")}, hashed_fields=ALL_FIELDS,
        noun=f"{task.name} examples",
    )
    prompts = prepare_rows(task, examples, params or {})
    predictions = predict_in_batches(predictor, prompts, batch_size, predict=lambda batch: _predict(predictor, batch),
                                     on_progress=on_progress, should_stop=should_stop, warmup=warmup)
    rows = [eval_row(task, index, example, prompt, prediction)
            for index, (example, prompt, prediction) in enumerate(zip(examples, prompts, predictions))]
    metrics = {**task.metrics(rows), "n_examples": len(rows)}
    headline = metrics.get(task.headline_metric)
    log(f"{predictor.name}: {task.headline_metric} {'—' if headline is None else f'{headline:.3f}'}")
    return TaskEvalResult(rows=rows, metrics=metrics, charts=task.charts(rows), provenance=provenance)


def eval_row(task: TextTask, index: int, example: Mapping[str, Any], prompt: Mapping[str, Any],
             prediction: Prediction) -> dict[str, Any]:
    """The stored row of one example: the eval-set row as frozen, what the model read and wrote, and the verdict."""
    parsed = task.parse(prediction.raw)
    return {
        **example,
        "index": index,
        "prompt_text": prompt["text"],
        "raw": prediction.raw,
        "parsed": parsed,
        "correct": parsed == example["answer"],
        "latency_ms": prediction.latency_ms,
        "tokens_decoded": prediction.tokens_decoded,
        "usage": prediction.usage,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", required=True, choices=task_names())
    parser.add_argument("--mode", required=True, choices=MODES)
    parser.add_argument("--eval-set", required=True, help="frozen eval set JSONL of the task")
    parser.add_argument("--out", required=True, help="per-example results JSONL")
    parser.add_argument("--metrics-out", help="metrics JSON (default: <out stem>.metrics.json next to --out)")
    parser.add_argument("--model-name", help="base model: bundled alias, local directory or hub id")
    parser.add_argument("--adapter", help="LoRA adapter directory (required for fine_tuned)")
    parser.add_argument("--trainer", choices=TRAINERS, default="sft", help="how the adapter was trained")
    parser.add_argument("--preset", help="a training preset of the task (its train mode and data flags)")
    parser.add_argument("--train-file", help="train split JSONL: sizes the generation budget")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--dataset-version", help="recorded in the provenance")
    parser.add_argument("--seed", type=int, help="recorded in the provenance")
    args = parser.parse_args(argv)
    task = get_task(args.task)
    presets = {preset.key: preset.params for preset in task.presets}
    if args.preset and args.preset not in presets:
        parser.error(f"--preset must be one of {', '.join(presets)} for {task.name}, got {args.preset!r}")
    params = presets.get(args.preset, {})
    try:
        predictor = task_predictor(
            task, args.mode, model_name=args.model_name, adapter=args.adapter, trainer=args.trainer,
            train_mode=params.get("train_mode"), train_rows=read_jsonl(args.train_file) if args.train_file else (),
        )
        result = run_task_eval(task, predictor, read_jsonl(args.eval_set), params=params, batch_size=args.batch_size,
                               on_log=print, dataset_version=args.dataset_version, seed=args.seed)
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    metrics_out = args.metrics_out or default_metrics_path(args.out)
    write_jsonl(args.out, result.rows)
    write_json(metrics_out, {"provenance": result.provenance, "metrics": result.metrics, "charts": result.charts})
    print(f"wrote {len(result.rows)} rows to {Path(args.out)} and metrics to {metrics_out}")


if __name__ == "__main__":
    main()
