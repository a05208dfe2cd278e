"""Export latency: a trained head in PyTorch eager (fp32) vs its ONNX int8 export in ONNX Runtime, and their parity.

Same head, same requests, batch 1, one thread each (``torch.set_num_threads``
and ORT's intra-op threads), warm models. Prints p50/p95 per request
(tokenization included) for each, the ratio p95_onnx / p95_torch, and parity:
the task's headline metric (vector_mae for the six values) of each and their
difference, judged as ``pipeline.export.parity`` judges an export. Requests run
interleaved (each through both predictors in turn), so that load from other
processes on a shared machine falls on both alike. The target (DESIGN §3b,
issue #15): ONNX p95 <= 0.25 x torch p95, with vector_mae within 0.5.
Not a test: only ratios within one run mean anything.

    python bench/export_latency.py --adapter runs/7/adapter            # the head of a run, 200 generated requests
    python bench/export_latency.py --train-steps 20                    # a quick reg_head on SmolLM2 first
    python bench/export_latency.py --adapter A --eval-set frozen.jsonl # requests from a frozen eval set
    python bench/export_latency.py --adapter A --fp32                  # the unquantised ONNX graph too
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.data.jsonl import read_jsonl, write_jsonl  # noqa: E402
from pipeline.eval.runner import EvalResult, score_predictions  # noqa: E402
from pipeline.export.onnx_head import add_quantization_flags, export_head_onnx, quantization_options  # noqa: E402
from pipeline.export.parity import compare_results  # noqa: E402
from pipeline.infer.cls_head import HeadPredictor  # noqa: E402
from pipeline.infer.onnx_head import OnnxHeadPredictor  # noqa: E402
from pipeline.tasks.predictors import Prediction, Predictor  # noqa: E402
from pipeline.tasks.registry import DEFAULT_TASK, Task, get_task  # noqa: E402
from pipeline.train.base_models import DEFAULT_BASE_MODEL  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from inference_latency import percentile  # noqa: E402  (the benches share it)

TARGET_RATIO = 0.25


def train_quick_head(model_name: str, task: Task, steps: int, rows: int, seed: int, directory: Path) -> str:
    """A regression head trained `steps` steps on `rows` generated rows (seeded): the adapter directory."""
    from pipeline.train.reg_head import RegHeadRunConfig, train

    data = write_jsonl(directory / "train.jsonl", task.generate(size=rows, seed=seed, language="en").rows)
    started = time.perf_counter()
    result = train(RegHeadRunConfig(model_name=model_name, train_file=str(data), output_dir=str(directory / "run"),
                                    max_steps=steps, task=task.name, seed=seed), handle_signals=False)
    if result.status != "completed" or not result.adapter_dir:
        raise SystemExit(f"training the quick head stopped: {result.status}")
    print(f"trained a {task.name} regression head on {model_name}: {steps} steps on {rows} rows in "
          f"{time.perf_counter() - started:.0f} s")
    return result.adapter_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default=DEFAULT_BASE_MODEL, help="the base model the head is trained on")
    source = parser.add_mutually_exclusive_group()  # neither: --train-steps 20 (what `make bench` runs)
    source.add_argument("--adapter", help="a trained head's adapter directory (with cls_head.json)")
    source.add_argument("--train-steps", type=int, help="train a quick regression head of this many steps first")
    parser.add_argument("--train-rows", type=int, default=200, help="generated rows the quick head trains on")
    parser.add_argument("--eval-set", help="JSONL of the head's task (a frozen eval set); default: generated")
    parser.add_argument("-n", "--num-requests", type=int, default=200)
    parser.add_argument("--out", type=Path, help="where the export goes (default: a temporary directory)")
    add_quantization_flags(parser)
    parser.add_argument("--fp32", action="store_true", help="also time the unquantised ONNX graph")
    parser.add_argument("--threads", type=int, default=1, help="torch and ORT intra-op threads (default 1)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed requests per predictor")
    parser.add_argument("--max-mae-delta", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        adapter = args.adapter or train_quick_head(args.model_name, get_task(DEFAULT_TASK), args.train_steps or 20,
                                                   args.train_rows, args.seed, Path(scratch))
        started = time.perf_counter()
        exports = {"onnx int8": export_head_onnx(args.model_name, adapter, args.out or Path(scratch) / "export",
                                                 **quantization_options(args))}
        export_s = time.perf_counter() - started
        if args.fp32:
            exports["onnx fp32"] = export_head_onnx(args.model_name, adapter, Path(scratch) / "export-fp32",
                                                    quantize=False)
        predictors: dict[str, Predictor] = {}
        for label, exported in exports.items():
            predictors[label] = OnnxHeadPredictor(exported.directory, name=label.replace(" ", "_"),
                                                  threads=args.threads)
        task = predictors["onnx int8"].task
        predictors = {"torch eager fp32": HeadPredictor(args.model_name, adapter, device="cpu", task=task),
                      **predictors}
        if args.eval_set:
            rows = read_jsonl(args.eval_set)[: args.num_requests]
        else:  # a synthetic frozen set, seeded apart from the quick head's training rows
            rows = task.generate(size=args.num_requests, seed=args.seed + 1, language="en").rows
        prompts = task.prepare_rows(rows, {})
        texts = [task.text(prompt) for prompt in prompts]
        for predictor in predictors.values():
            predictor.predict(texts[: args.warmup])
        results: dict[str, list[Prediction]] = {label: [] for label in predictors}
        for text in texts:
            for label, predictor in predictors.items():
                results[label] += predictor.predict([text])

    int8 = exports["onnx int8"]
    print(f"model: {args.model_name}  adapter: {adapter}  task: {task.name}  requests: {len(texts)} "
          f"({args.eval_set or f'generated, seed {args.seed + 1}'})  threads: {args.threads}  "
          f"max_seq_length: {predictors['onnx int8'].max_seq_length}")
    print(f"export: {int8.model_file.name} {int8.model_bytes / 2**20:.1f} MiB (fp32 graph "
          f"{int8.fp32_bytes / 2**20:.1f} MiB), {int8.quantization}, opset {int8.opset}, {export_s:.0f} s; "
          f"smooth_alpha {args.smooth_alpha or 'off'}, {len(int8.kept_fp32)} layers kept fp32 "
          f"(inputs > {args.outlier_ratio or 'inf'} x RMS); "
          + ", ".join(f"{name} {version}" for name, version in int8.versions.items()))
    evaluations = {label: EvalResult(*score_predictions(task, rows, predictions, prompts=prompts), provenance={})
                   for label, predictions in results.items()}
    metric = task.headline_metric
    header = (f"{'predictor':<20}{'p50 ms':>9}{'p95 ms':>9}{'p50/torch':>11}{'p95/torch':>11}"
              f"{metric:>14}{'json valid':>12}{'truncated':>11}")
    print(header)
    print("-" * len(header))
    baseline = None
    for label, predictions in results.items():
        latencies = [p.latency_ms for p in predictions]
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        baseline = baseline or (p50, p95)
        metrics = evaluations[label].metrics
        print(f"{label:<20}{p50:>9.1f}{p95:>9.1f}{p50 / baseline[0]:>11.3f}{p95 / baseline[1]:>11.3f}"
              f"{_show(metrics.get(metric)):>14}{_show(metrics.get('json_valid_rate')):>12}"
              f"{_show(metrics.get('truncated_rate')):>11}")
    ratio = percentile([p.latency_ms for p in results["onnx int8"]], 95) / baseline[1]
    print(f"target onnx int8 p95 <= {TARGET_RATIO:.2f} x torch p95: {ratio:.3f} -> "
          f"{'PASS' if ratio <= TARGET_RATIO else 'FAIL'}")
    parity = compare_results(task, evaluations["torch eager fp32"], evaluations["onnx int8"],
                             max_mae_delta=args.max_mae_delta, names=("torch eager fp32", "onnx int8"))
    print(f"parity {'PASS' if parity.passed else 'FAIL'}: {parity.reason}")


def _show(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
