"""Evaluate one predictor of any task on a frozen eval set (the seed's `run_eval`).

Run alone:
    python -m pipeline.eval.run_eval --mode rule_baseline --eval-set frozen/<hash>.jsonl --out results/rule.jsonl
    python -m pipeline.eval.run_eval --task four_class --mode fine_tuned --adapter runs/7/adapter \\
        --eval-set frozen/<hash>.jsonl --out results/tuned.jsonl

Writes one JSONL row per example to --out and {"provenance", "metrics",
"charts"} to --metrics-out (default: <out>.metrics.json, e.g.
results/rule.metrics.json), which `aggregate_metrics` reads. --task defaults
to the registry's default task, --mode to $EVAL_MODE.

--preset names a training preset of the task: its params shape the prompts as
they shaped training (a train mode, retrieved context). --train-file (the train
split) gives the prompt baseline its solved examples (--few-shot is the seed's
name for it) and sizes a free generation's token budget. An adapter with a
trained head (its `cls_head.json`) is served in one forward pass.

--mode remote evaluates a Mistral chat model (--model-name is its id, e.g.
mistral-small-latest) with MISTRAL_API_KEY and the optional MISTRAL_SERVER_URL;
its cost comes from the tokens each answer used, priced from pipeline.mistral.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.data.jsonl import read_jsonl, write_json, write_jsonl
from pipeline.eval.metrics import CostModel
from pipeline.eval.predictors import DECODE_MODES, MODES, build_predictor
from pipeline.eval.runner import EvalResult, evaluate
from pipeline.tasks.registry import DEFAULT_TASK, get_task, task_names


def default_metrics_path(out: str | Path) -> Path:
    """results/rule.jsonl -> results/rule.metrics.json"""
    out = Path(out)
    return out.with_name(f"{out.stem}.metrics.json")


def write_result(result: EvalResult, out: str | Path, metrics_out: str | Path) -> None:
    write_jsonl(out, result.rows)
    write_json(metrics_out, {"provenance": result.provenance, "metrics": result.metrics, "charts": result.charts})


def cost_model(mode: str, hourly_usd: float | None = None, model_name: str | None = None,
               price_table: Mapping[str, Mapping[str, float]] | None = None) -> CostModel | None:
    """How a mode's requests are priced: free rules, API tokens (`price_table`, default
    pipeline.mistral.DEFAULT_PRICES), or local hardware time; None when unknown."""
    if mode == "rule_baseline":
        return CostModel.free()
    if mode == "remote":
        from pipeline.mistral import DEFAULT_PRICES, prices_for

        prices = prices_for(model_name, price_table or DEFAULT_PRICES) if model_name else None
        return CostModel.api(prices) if prices else None
    return CostModel.local(hourly_usd) if hourly_usd is not None else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--task", choices=task_names(), default=DEFAULT_TASK, help="task type of the eval set (default: %(default)s)")
    add("--mode", default=os.environ.get("EVAL_MODE"), help=f"{' | '.join(MODES)} (default: $EVAL_MODE)")
    add("--eval-set", required=True, help="frozen eval set JSONL")
    add("--out", required=True, help="per-example results JSONL")
    add("--metrics-out", help="metrics JSON (default: <out stem>.metrics.json next to --out)")
    add("--batch-size", type=int, default=8)
    add("--model-name", help="base model id or path (prompt_baseline, fine_tuned); Mistral model id (remote)")
    add("--adapter", help="LoRA adapter path, or a trained head's (required for fine_tuned)")
    add("--decode", choices=DECODE_MODES, help="decoding of the model predictors (default: the task's)")
    add("--preset", help="a training preset of the task: its params shape the prompts (train mode, context)")
    add("--train-file", "--few-shot", dest="train_file",
        help="train split JSONL: the prompt baseline's solved examples, and the free-generation token budget")
    add("--few-shot-k", type=int, help="how many examples prompt_baseline sees (default: the task's)")
    add("--hourly-usd", type=float, help="hardware price per hour, for the cost of local models")
    add("--dataset-version", help="recorded in the provenance")
    add("--seed", type=int, help="recorded in the provenance; also draws the few-shot examples")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.mode not in MODES:
        parser.error(f"--mode (or EVAL_MODE) must be one of {', '.join(MODES)}, got {args.mode!r}")
    task = get_task(args.task)
    presets = {preset.key: preset.params for preset in task.presets}
    if args.preset and args.preset not in presets:
        parser.error(f"--preset must be one of {', '.join(presets)} for {task.name}, got {args.preset!r}")
    params = presets.get(args.preset, {})
    try:
        train_rows = task.prepare_rows(read_jsonl(args.train_file), params) if args.train_file else []
        predictor = build_predictor(
            task, args.mode, model_name=args.model_name, adapter=args.adapter, decode=args.decode,
            few_shot_rows=train_rows, few_shot_k=args.few_shot_k, train_mode=params.get("train_mode"),
            train_rows=train_rows, seed=args.seed or 0,
        )
        result = evaluate(
            task,
            predictor,
            read_jsonl(args.eval_set),
            params=params,
            batch_size=args.batch_size,
            on_log=print,
            cost=cost_model(args.mode, args.hourly_usd, args.model_name),
            dataset_version=args.dataset_version,
            seed=args.seed,
            extra_provenance={key: value for key, value in (("decode", args.decode), ("preset", args.preset))
                              if value},
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    metrics_out = args.metrics_out or default_metrics_path(args.out)
    write_result(result, args.out, metrics_out)
    print(f"wrote {len(result.rows)} rows to {args.out} and metrics to {metrics_out}")


if __name__ == "__main__":
    main()
