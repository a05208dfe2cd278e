"""Training throughput: padded batches vs padding-free packing, same data, same model, same run.

Prints real (non-padding) tokens per second for each mode and their ratio.
Both modes see every example once (one epoch), so they train on the same tokens;
packing only stops spending compute on padding. Not a test: numbers depend on
the machine, and only the ratio measured within one invocation means anything.

    python bench/train_throughput.py                    # SmolLM2-135M from the model cache
    python bench/train_throughput.py --tiny             # a random 4-layer Llama with SmolLM2's tokenizer
    python bench/train_throughput.py --model-name PATH  # a local model with a chat template, under $FTLOOP_MODELS_DIR
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.data.export import chat_record  # noqa: E402
from pipeline.data.jsonl import write_jsonl  # noqa: E402
from pipeline.tasks.hidden_params import TASK  # noqa: E402
from pipeline.tasks.hidden_params.generate import generate_pairs  # noqa: E402
from pipeline.train.base_models import DEFAULT_BASE_MODEL, MODELS_DIR_ENV, resolve_base_model  # noqa: E402
from pipeline.train.sft import SFTRunConfig, TrainResult, train  # noqa: E402


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


def run(mode: str, model_path: str, train_file: Path, output_dir: Path, args: argparse.Namespace) -> TrainResult:
    config = SFTRunConfig(model_name=model_path, train_file=str(train_file), output_dir=str(output_dir / mode),
                          num_epochs=1, batch_size=args.batch_size, max_seq_length=args.max_seq_length,
                          packing=mode == "packing", logging_steps=1000, resume=False, seed=args.seed)
    return train(config, handle_signals=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-name", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--tiny", action="store_true", help="random small Llama with the model's tokenizer")
    parser.add_argument("--examples", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-seq-length", type=int, default=512)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ftloop-bench-") as scratch:
        root = Path(scratch)
        model_path = args.model_name
        if args.tiny:  # the scratch directory is this process's models directory
            os.environ[MODELS_DIR_ENV] = scratch
            model_path = tiny_model(root / "tiny", resolve_base_model(args.model_name))
        rows = generate_pairs(args.examples, seed=args.seed, language="mixed")
        train_file = write_jsonl(root / "chat_train.jsonl", (chat_record(TASK, row) for row in rows))

        results = {mode: run(mode, model_path, train_file, root, args) for mode in ("padding", "packing")}

    print(f"model: {args.model_name}{' (tiny random Llama)' if args.tiny else ''}, {args.examples} examples, "
          f"batch {args.batch_size}, max length {args.max_seq_length}, device {results['padding'].device.name}")
    for mode, result in results.items():
        print(f"{mode:>8}: {result.tokens_per_second:8.1f} tokens/s  {result.steps_per_second:6.3f} steps/s  "
              f"{result.steps_done:4d} steps  train loss {result.train_loss}")
    ratio = results["packing"].tokens_per_second / results["padding"].tokens_per_second
    print(f"ratio packing/padding tokens/s: {ratio:.2f}")


if __name__ == "__main__":
    main()
