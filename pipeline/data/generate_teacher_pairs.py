"""Stage 1 (generate): a task's generator writes new rows (the seed's `generate_teacher_pairs`).

Run alone: python -m pipeline.data.generate_teacher_pairs --size 2000 --out pairs.jsonl
           python -m pipeline.data.generate_teacher_pairs --task four_class --size 500 --out rows.jsonl

The task decides what a row is and who writes it (``task.generate``, its
``teachers``); --oversample passes the task's error bands through (for the
six-parameter task "axis:low-high:share", e.g. energy:0-20:0.3).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pipeline.data.jsonl import write_jsonl
from pipeline.tasks.registry import DEFAULT_TASK, get_task, task_names


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK, help="task type (default: %(default)s)")
    parser.add_argument("--size", type=int, default=2000, help="rows to generate (default 2000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--language", default="en", help="one of the task's languages, or mixed")
    parser.add_argument("--teacher", help="one of the task's teachers (default: its first, offline)")
    parser.add_argument("--oversample", action="append", default=[], metavar="BAND",
                        help="an error band of the task, repeatable")
    parser.add_argument("--out", required=True, help="output JSONL path")
    args = parser.parse_args(argv)
    task = get_task(args.task)
    teacher = args.teacher or task.teachers[0]
    if teacher not in task.teachers:
        parser.error(f"--teacher must be one of {', '.join(task.teachers)} for {task.name}, got {teacher!r}")
    try:
        generated = task.generate(size=args.size, seed=args.seed, language=args.language, teacher=teacher,
                                  oversample=args.oversample, on_log=print)
    except ValueError as exc:
        parser.error(str(exc))
    write_jsonl(args.out, generated.rows)
    print(f"wrote {len(generated.rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
