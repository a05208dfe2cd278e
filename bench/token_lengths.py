"""Token lengths of the six-parameter task's requests under a base model's tokenizer: p50/p95/p99/max per language.

The regression head reads the raw request (no chat template), so these are the
lengths it trains and predicts on. The head's default ``max_seq_length``
(``RegHeadRunConfig``) must cover the 99th percentile of every language (issue
#14, Build 6); this prints whether it does and what share of each set it cuts.

    python bench/token_lengths.py                      # 2,000 template requests en and ja (seed 0) + the dev set
    python bench/token_lengths.py --size 500 --seed 7
    python bench/token_lengths.py --requests frozen.jsonl
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.data.jsonl import read_jsonl  # noqa: E402
from pipeline.tasks.hidden_params.generate import generate_pairs  # noqa: E402
from pipeline.train.base_models import DEFAULT_BASE_MODEL, resolve_base_model  # noqa: E402
from pipeline.train.cls_head import load_tokenizer  # noqa: E402
from pipeline.train.reg_head import RegHeadRunConfig  # noqa: E402

DEV_SET = Path(__file__).resolve().parents[1] / "pipeline/tasks/hidden_params/data/field_dev.jsonl"


def percentile(values: Sequence[int], fraction: float) -> int:
    """Nearest rank, as the runner's p95."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def lengths(tokenizer, texts: Sequence[str]) -> list[int]:
    return [len(ids) for ids in tokenizer(list(texts), truncation=False)["input_ids"]]


def row(name: str, values: Sequence[int], limit: int, texts: Sequence[str] | None = None) -> str:
    cut = sum(value > limit for value in values)
    chars = f"  chars p50 {percentile([len(t) for t in texts], .5)} max {max(len(t) for t in texts)}" if texts else ""
    return (f"{name:<22} n={len(values):>5}  p50 {percentile(values, .5):>4}  p95 {percentile(values, .95):>4}  "
            f"p99 {percentile(values, .99):>4}  max {max(values):>4}  > {limit}: {cut} ({cut / len(values):.1%}){chars}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--size", type=int, default=2000, help="template requests per language")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--requests", type=Path, action="append", default=[], help="a JSONL of requests (repeatable)")
    parser.add_argument("--max-seq-length", type=int, default=RegHeadRunConfig.max_seq_length)
    args = parser.parse_args(argv)
    tokenizer = load_tokenizer(resolve_base_model(args.model))
    limit = args.max_seq_length
    print(f"tokenizer of {args.model}; the head's max_seq_length {limit}")
    p99 = {}
    for language in ("en", "ja"):
        texts = [r["request_text"] for r in generate_pairs(args.size, args.seed, language=language)]
        values = lengths(tokenizer, texts)
        p99[language] = percentile(values, .99)
        print(row(f"template {language}", values, limit, texts))
    dev = list(read_jsonl(DEV_SET))
    for language in ("en", "ja"):
        texts = [r["request_text"] for r in dev if r.get("language") == language]
        if texts:
            print(row(f"dev {language}", lengths(tokenizer, texts), limit, texts))
    for path in args.requests:
        texts = [r["request_text"] for r in read_jsonl(path)]
        print(row(path.name[:22], lengths(tokenizer, texts), limit, texts))
    need = 32 * math.ceil(max(p99.values()) / 32)
    print(f"p99 of the template requests, rounded up to a multiple of 32: {need} "
          f"({'covered' if limit >= need else 'NOT covered'} by {limit})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
