"""Stage 3 (split): a task's seeded train/valid/test split, its export formats, and ft_split_stats.json.

Run alone: python -m pipeline.data.build_train_valid_test --in kept.jsonl --out-dir splits/ [--task four_class]

How rows are split (stratified or not, which rows always train) and what the
statistics chart is the task's (``task.split``, ``task.split_stats``); the
chat and prompt/completion exports beside each split render the task's own
chat (pipeline.data.export).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.data.export import write_exports
from pipeline.data.jsonl import read_json, read_jsonl, write_json, write_jsonl
from pipeline.tasks.registry import DEFAULT_TASK, SPLITS, Task, get_task, task_names

STATS_FILE = "ft_split_stats.json"


def write_splits(out_dir: str | Path, task: Task, splits: Mapping[str, Sequence[dict[str, Any]]],
                 stats: Mapping[str, Any]) -> list[Path]:
    """Each split as JSONL, its export formats beside it (pipeline.data.export), and the stats file."""
    out_dir = Path(out_dir)
    paths = []
    for name in SPLITS:
        paths.append(write_jsonl(out_dir / f"{name}.jsonl", splits[name]))
        paths.extend(write_exports(out_dir, task, name, splits[name]))
    paths.append(write_json(out_dir / STATS_FILE, stats))
    return paths


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK, help="task type (default: %(default)s)")
    parser.add_argument("--in", dest="inp", required=True, help="filtered rows JSONL")
    parser.add_argument("--report", help="drops-by-reason JSON from the filter stage")
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    task = get_task(args.task)
    dropped = read_json(args.report) if args.report else {}
    splits = task.split(read_jsonl(args.inp), args.seed)
    stats = task.split_stats(splits, dropped)
    write_splits(args.out_dir, task, splits, stats)
    print(f"wrote {stats['counts']} to {args.out_dir}")


if __name__ == "__main__":
    main()
