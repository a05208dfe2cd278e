"""Training throughput: one trainer, the same data and model, two settings back to back in one run.

Prints real (non-padding) tokens per second and steps per second for each setting, their ratio, and each run's
final train loss (a speed-up counts only if the loss follows). Not a test: numbers depend on the machine, and
only the ratio measured within one invocation means anything.

``--compare`` picks the pair:
  precision   fp32 vs bf16 (autocast over fp32 master weights on a CPU with AVX512-BF16 or AMX; on a CPU without
              it both runs are fp32, and the bench says so)
  grouping    random batches vs batches of similar length (``group_by_length``)
  packing     SFT only: padded batches vs padding-free packing

    python bench/train_throughput.py                                  # reg_head, fp32 vs bf16, SmolLM2-135M
    python bench/train_throughput.py --compare grouping --steps 40
    python bench/train_throughput.py --trainer sft --compare packing
    python bench/train_throughput.py --tiny                           # a random 4-layer Llama, SmolLM2's tokenizer
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.data.export import chat_record  # noqa: E402
from pipeline.data.jsonl import write_jsonl  # noqa: E402
from pipeline.tasks.hidden_params import TASK  # noqa: E402
from pipeline.tasks.hidden_params.generate import generate_pairs  # noqa: E402
from pipeline.train.base_models import DEFAULT_BASE_MODEL, MODELS_DIR_ENV, resolve_base_model  # noqa: E402
from pipeline.train.registry import TRAINERS  # noqa: E402
from pipeline.train.sft import TrainResult, cpu_supports_bf16, resolve_precision  # noqa: E402

SETTINGS: dict[str, tuple[tuple[str, dict[str, Any]], tuple[str, dict[str, Any]]]] = {
    "precision": (("fp32", {"bf16": False}), ("bf16", {"bf16": True})),
    "grouping": (("random", {"group_by_length": False}), ("grouped", {"group_by_length": True})),
    "packing": (("padding", {"packing": False}), ("packing", {"packing": True})),
}


def tiny_model(directory: Path, tokenizer_source: str) -> str:
    """A random small Llama that shares the real tokenizer, so token counts match the real model's."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_source)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=4,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    LlamaForCausalLM(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return str(directory)


def train_file(trainer: str, root: Path, examples: int, seed: int) -> Path:
    """The trainer's input: chat records for SFT, the task's rows for a head."""
    rows = generate_pairs(examples, seed=seed, language="mixed")
    if trainer == "sft":
        return write_jsonl(root / "chat_train.jsonl", (chat_record(TASK, row) for row in rows))
    return write_jsonl(root / "train.jsonl", ({TASK.text_key: row[TASK.text_key],
                                               TASK.answer_key: row[TASK.answer_key]} for row in rows))


def run(trainer: str, label: str, overrides: dict[str, Any], model_path: str, data: Path, root: Path,
        args: argparse.Namespace) -> TrainResult:
    spec = TRAINERS[trainer]
    params = {"model_name": model_path, "num_epochs": 1, "max_steps": args.steps, "batch_size": args.batch_size,
              "logging_steps": 5, "resume": False, "seed": args.seed, **overrides}
    config = spec.config(params, train_file=str(data), output_dir=str(root / label))
    return spec.train(config, handle_signals=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainer", default="reg_head", choices=("reg_head", "sft"))
    parser.add_argument("--compare", default="precision", choices=tuple(SETTINGS))
    parser.add_argument("--model-name", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--tiny", action="store_true", help="random small Llama with the model's tokenizer")
    parser.add_argument("--examples", type=int, default=400, help="mixed en/ja rows generated (default 400)")
    parser.add_argument("--steps", type=int, default=40, help="optimizer steps of each run (default 40)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.compare == "packing" and args.trainer != "sft":
        parser.error("--compare packing is for --trainer sft")

    with tempfile.TemporaryDirectory(prefix="ftloop-bench-") as scratch:
        root = Path(scratch)
        model_path = args.model_name
        if args.tiny:  # the scratch directory is this process's models directory
            os.environ[MODELS_DIR_ENV] = scratch
            model_path = tiny_model(root / "tiny", resolve_base_model(args.model_name))
        data = train_file(args.trainer, root, args.examples, args.seed)
        results = {label: run(args.trainer, label, overrides, model_path, data, root, args)
                   for label, overrides in SETTINGS[args.compare]}

    first, second = results.values()
    print(f"{args.trainer}, model {args.model_name}{' (tiny random Llama)' if args.tiny else ''}, {args.examples} "
          f"mixed en/ja examples, {args.steps} steps of {args.batch_size}, device {first.device.name}")
    if args.compare == "precision" and resolve_precision(True, False) != "bf16":
        print("this device has no bf16 (no CUDA bf16, and the CPU lacks AVX512-BF16 and AMX): both runs are fp32")
    elif args.compare == "precision" and not first.device.kind == "cuda":
        print(f"CPU bf16: autocast over fp32 master weights (AVX512-BF16/AMX: {cpu_supports_bf16()})")
    for label, result in results.items():
        print(f"{label:>8}: {result.tokens_per_second:8.1f} tokens/s  {result.steps_per_second:6.3f} steps/s  "
              f"{result.steps_done:4d} steps  final train loss {result.train_loss}")
    (label_a, a), (label_b, b) = results.items()
    print(f"ratio {label_b}/{label_a}: tokens/s {b.tokens_per_second / a.tokens_per_second:.2f}, "
          f"steps/s {b.steps_per_second / a.steps_per_second:.2f}")


if __name__ == "__main__":
    main()
