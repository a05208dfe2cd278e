"""The seed's `quality_filter` stage as a command: the six-parameter task's filter (pipeline.tasks.hidden_params.clean)
over a JSONL file.

Run alone: python -m pipeline.data.quality_filter --in generated.jsonl --out kept.jsonl --dropped dropped.jsonl
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pipeline.data.jsonl import read_jsonl, write_json, write_jsonl
from pipeline.tasks.hidden_params.clean import FilterConfig, quality_filter


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in", dest="inp", required=True, help="generated pairs JSONL")
    parser.add_argument("--out", required=True, help="kept rows JSONL")
    parser.add_argument("--dropped", help="dropped rows JSONL, each with reason and detail")
    parser.add_argument("--report", help="drops-by-reason JSON")
    parser.add_argument("--near-duplicate-threshold", type=float, default=FilterConfig.near_duplicate_threshold)
    args = parser.parse_args(argv)
    result = quality_filter(read_jsonl(args.inp), FilterConfig(near_duplicate_threshold=args.near_duplicate_threshold))
    write_jsonl(args.out, result.kept)
    if args.dropped:
        write_jsonl(args.dropped, result.dropped)
    if args.report:
        write_json(args.report, result.report)
    print(f"kept {len(result.kept)}, dropped {len(result.dropped)}: {result.report}")


if __name__ == "__main__":
    main()
