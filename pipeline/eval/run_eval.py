"""Evaluate one predictor on a frozen eval set (the seed's `run_eval`).

Run alone:
    python -m pipeline.eval.run_eval --mode rule_baseline --eval-set frozen/<hash>.jsonl --out results/rule.jsonl

Writes one JSONL row per example to --out and {"provenance", "metrics"} to
--metrics-out (default: <out>.metrics.json, e.g. results/rule.metrics.json),
which `aggregate_metrics` reads. --mode defaults to $EVAL_MODE.

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
from pipeline.eval.runner import EvalResult, run_eval
from pipeline.tasks.predictors import Predictor
from pipeline.tasks.hidden_params.rules import RuleBaseline

MODES = ("rule_baseline", "prompt_baseline", "fine_tuned", "remote")
DECODE_MODES = ("free", "constrained", "expected")
DEFAULT_FEW_SHOT_K = 4


def predictor_factory(
    mode: str,
    *,
    model_name: str | None = None,
    adapter: str | None = None,
    decode: str | None = None,
    few_shot_path: str | Path | None = None,
    few_shot_k: int = DEFAULT_FEW_SHOT_K,
    seed: int = 0,
) -> Predictor:
    """The predictor of a mode, built from plain options (CLI flags or a run row's params).

    prompt_baseline shows the base model `few_shot_k` examples drawn (seeded)
    from the train split at `few_shot_path`; fine_tuned is the base model with
    `adapter` merged. Both load weights, so build one per evaluation and reuse it.
    remote is the Mistral model `model_name` over the API (few-shot as for
    prompt_baseline), keyed by MISTRAL_API_KEY.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if mode == "remote":
        return _remote_predictor(model_name, adapter, decode, few_shot_path, few_shot_k, seed)
    if mode == "rule_baseline":
        model_options = {"model_name": model_name, "adapter": adapter, "decode": decode, "few_shot_path": few_shot_path}
        given = [name for name, value in model_options.items() if value is not None]
        if given:
            raise ValueError(f"rule_baseline takes no model options, got {', '.join(given)}")
        return RuleBaseline()
    if mode == "fine_tuned" and not adapter:
        raise ValueError("fine_tuned needs an adapter")
    from pipeline.infer import hf  # imported here: the rule baseline and --help need no torch
    from pipeline.infer.cls_head import HeadPredictor, is_head_adapter
    from pipeline.train.base_models import DEFAULT_BASE_MODEL

    if mode == "fine_tuned" and is_head_adapter(adapter):
        # A regression head answers in one forward pass: there is no decoding to choose.
        return HeadPredictor(model_name or DEFAULT_BASE_MODEL, adapter)

    loaded = hf.load_model(model_name or DEFAULT_BASE_MODEL, adapter)
    options = {"decode": decode} if decode else {}
    if mode == "fine_tuned":
        return hf.fine_tuned(loaded, **options)
    examples = hf.few_shot_examples(read_jsonl(few_shot_path), few_shot_k, seed) if few_shot_path else []
    return hf.prompt_baseline(loaded, examples, **options)


def _remote_predictor(
    model_name: str | None,
    adapter: str | None,
    decode: str | None,
    few_shot_path: str | Path | None,
    few_shot_k: int,
    seed: int,
) -> Predictor:
    from pipeline.infer.hf import few_shot_examples
    from pipeline.infer.remote import MistralPredictor
    from pipeline.mistral import client_from_env

    if not model_name:
        raise ValueError("remote needs a Mistral model id as model_name, e.g. mistral-small-latest")
    given = [name for name, value in {"adapter": adapter, "decode": decode}.items() if value is not None]
    if given:
        raise ValueError(f"remote takes no {' or '.join(given)}: the model runs on Mistral's servers")
    examples = few_shot_examples(read_jsonl(few_shot_path), few_shot_k, seed) if few_shot_path else []
    return MistralPredictor(model_name, client_from_env(), few_shot=examples)


def default_metrics_path(out: str | Path) -> Path:
    """results/rule.jsonl -> results/rule.metrics.json"""
    out = Path(out)
    return out.with_name(f"{out.stem}.metrics.json")


def write_result(result: EvalResult, out: str | Path, metrics_out: str | Path) -> None:
    write_jsonl(out, result.rows)
    write_json(metrics_out, {"provenance": result.provenance, "metrics": result.metrics})


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


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--mode", default=os.environ.get("EVAL_MODE"), help=f"{' | '.join(MODES)} (default: $EVAL_MODE)"
    )
    parser.add_argument("--eval-set", required=True, help="frozen eval set JSONL")
    parser.add_argument("--out", required=True, help="per-example results JSONL")
    parser.add_argument("--metrics-out", help="metrics JSON (default: <out stem>.metrics.json next to --out)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument(
        "--model-name", help="base model id or path (prompt_baseline, fine_tuned); Mistral model id (remote)"
    )
    parser.add_argument("--adapter", help="LoRA adapter path (required for fine_tuned)")
    parser.add_argument("--decode", choices=DECODE_MODES, help="decoding of the model predictors")
    parser.add_argument("--few-shot", dest="few_shot_path", help="train split JSONL with prompt_baseline examples")
    parser.add_argument(
        "--few-shot-k", type=int, default=DEFAULT_FEW_SHOT_K, help="how many examples prompt_baseline sees"
    )
    parser.add_argument("--hourly-usd", type=float, help="hardware price per hour, for the cost of local models")
    parser.add_argument("--dataset-version", help="recorded in the provenance")
    parser.add_argument("--seed", type=int, help="recorded in the provenance")
    args = parser.parse_args(argv)

    if args.mode not in MODES:
        parser.error(f"--mode (or EVAL_MODE) must be one of {', '.join(MODES)}, got {args.mode!r}")
    try:
        predictor = predictor_factory(
            args.mode,
            model_name=args.model_name,
            adapter=args.adapter,
            decode=args.decode,
            few_shot_path=args.few_shot_path,
            few_shot_k=args.few_shot_k,
            seed=args.seed or 0,
        )
        examples = read_jsonl(args.eval_set)
        result = run_eval(
            predictor,
            examples,
            batch_size=args.batch_size,
            on_log=print,
            cost=cost_model(args.mode, args.hourly_usd, args.model_name),
            dataset_version=args.dataset_version,
            seed=args.seed,
            extra_provenance={"decode": args.decode} if args.decode else None,
        )
    except (ValueError, OSError) as exc:
        parser.error(str(exc))
    metrics_out = args.metrics_out or default_metrics_path(args.out)
    write_result(result, args.out, metrics_out)
    print(f"wrote {len(result.rows)} rows to {args.out} and metrics to {metrics_out}")


if __name__ == "__main__":
    main()
