"""Inference latency: free ``generate`` vs constrained decoding, without and with the prompt-prefix cache.

Same model, same requests, batch 1, warm model. Prints p50/p95 latency per
request, model forward passes per request, and each configuration's ratios to
(a) free generation. The issue's target: (c) p95 at most half of (a)'s.
Requests are run interleaved (each request through every configuration in
turn), so that load from other processes on a shared machine falls on all
configurations alike. Not a test: only ratios within one run mean anything.

    python bench/inference_latency.py                          # SmolLM2-135M, 30 generated requests
    python bench/inference_latency.py --requests frozen.jsonl  # requests from a frozen eval set
    python bench/inference_latency.py --adapter runs/7/adapter # the fine-tuned predictor
    python bench/inference_latency.py --tiny                   # a random small Llama with SmolLM2's tokenizer
    python bench/inference_latency.py --threads 1              # on a busy 2-core machine, 2 threads contend

Without an adapter the predictor is the prompt baseline (k few-shot examples),
so that free generation writes JSON and stops, as a fine-tuned model does.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.data.jsonl import read_jsonl  # noqa: E402
from pipeline.infer.hf import HFPredictor, LoadedModel, few_shot_examples, load_model  # noqa: E402
from pipeline.tasks.hidden_params.generate import generate_pairs  # noqa: E402
from pipeline.tasks.predictors import Prediction  # noqa: E402
from pipeline.tasks.registry import DEFAULT_TASK, Task, get_task  # noqa: E402
from pipeline.train.base_models import DEFAULT_BASE_MODEL, MODELS_DIR_ENV, resolve_base_model  # noqa: E402

CONFIGS = (
    ("(a) free generate", "free", False),
    ("(b) constrained", "constrained", False),
    ("(c) constrained + prefix cache", "constrained", True),
    ("(d) expected + prefix cache", "expected", True),
)


def tiny_model_dir(directory: Path, tokenizer_source: str) -> str:
    """A random small Llama that shares the real tokenizer, so prompt and answer lengths match the real model's."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         architectures=["LlamaForCausalLM"])
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def percentile(values: list[float], q: float) -> float:
    import numpy

    return float(numpy.percentile(values, q))


def build_predictors(loaded: LoadedModel, task: Task, shots: list) -> dict[str, HFPredictor]:
    name = "fine_tuned" if loaded.adapter else "prompt_baseline"
    return {
        label: HFPredictor(loaded, name, task, few_shot=shots, decode=mode, prefix_cache=cached)
        for label, mode, cached in CONFIGS
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--adapter", help="LoRA adapter directory (fine_tuned predictor)")
    parser.add_argument("--tiny", action="store_true", help="random small Llama with the model's tokenizer")
    parser.add_argument("--requests", help="JSONL with request_text (e.g. a frozen eval set); default: generated")
    parser.add_argument("-n", "--num-requests", type=int, default=30)
    parser.add_argument("--shots", type=int, default=3, help="few-shot examples for the prompt baseline")
    parser.add_argument("--warmup", type=int, default=2, help="untimed requests per configuration")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    import torch

    task = get_task(DEFAULT_TASK)  # the flagship: the task whose answer constrained decoding forces
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.requests:
        texts = [row["request_text"] for row in read_jsonl(args.requests)][: args.num_requests]
    else:
        texts = [row["request_text"] for row in generate_pairs(args.num_requests, seed=args.seed)]
    shots = [] if args.adapter else few_shot_examples(generate_pairs(50, seed=args.seed + 1), args.shots, args.seed)

    with tempfile.TemporaryDirectory() as scratch:
        model_name = args.model_name
        if args.tiny:  # the scratch directory is this process's models directory
            os.environ[MODELS_DIR_ENV] = scratch
            model_name = tiny_model_dir(Path(scratch) / "tiny", resolve_base_model(args.model_name))
        loaded = load_model(model_name, args.adapter)
        predictors = build_predictors(loaded, task, shots)
        for predictor in predictors.values():
            predictor.predict(texts[: args.warmup])
        results: dict[str, list[Prediction]] = {label: [] for label in predictors}
        for text in texts:
            for label, predictor in predictors.items():
                results[label] += predictor.predict([text])

    reference = next(iter(predictors.values()))
    print(f"model: {args.model_name}{' (tiny random)' if args.tiny else ''}  adapter: {args.adapter or '-'}  "
          f"predictor: {reference.name}  requests: {len(texts)}  device: {loaded.device}  "
          f"threads: {torch.get_num_threads()}  cached prefix: {len(reference.prefix_ids())} tokens")
    header = (f"{'configuration':<32}{'p50 ms':>9}{'p95 ms':>9}{'tokens/req':>12}"
              f"{'p50/(a)':>9}{'p95/(a)':>9}{'tokens/(a)':>12}{'json valid':>12}")
    print(header)
    print("-" * len(header))
    baseline = None
    for label, predictions in results.items():
        latencies = [p.latency_ms for p in predictions]
        row = (percentile(latencies, 50), percentile(latencies, 95),
               sum(p.tokens_decoded for p in predictions) / len(predictions))
        baseline = baseline or row
        valid = sum(task.parse(p.raw) is not None for p in predictions) / len(predictions)
        print(f"{label:<32}{row[0]:>9.0f}{row[1]:>9.0f}{row[2]:>12.1f}"
              f"{row[0] / baseline[0]:>9.2f}{row[1] / baseline[1]:>9.2f}{row[2] / baseline[2]:>12.2f}{valid:>12.2f}")
    cached_p95 = percentile([p.latency_ms for p in results[CONFIGS[2][0]]], 95)
    ratio = cached_p95 / baseline[1]
    print(f"target (c) p95 <= 0.50 x (a) p95: {ratio:.2f} -> {'PASS' if ratio <= 0.5 else 'FAIL'}")


if __name__ == "__main__":
    main()
