"""Import an existing JSONL dataset of any task type (e.g. request_text + the six targets).

All or nothing: every bad line is reported by number and reason, and a file with
any bad line yields no rows, so a half-imported dataset can never exist. Each
task (pipeline.tasks.registry) validates an object with its own ``validate_row``.

Run alone (validation only): python -m pipeline.data.importer data.jsonl [--task four_class]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pipeline.tasks.registry import DEFAULT_TASK, get_task, task_names


class ImportFailed(ValueError):
    """Carries every (line number, problem) found, up to a cap, for the upload page."""

    def __init__(self, errors: list[tuple[int, str]], truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        shown = "; ".join(f"line {number}: {problem}" for number, problem in errors)
        super().__init__(shown + (" (more errors not shown)" if truncated else ""))


def row_maker(task: str) -> Callable[[Any, int], dict[str, Any]]:
    """How one imported object becomes a row of `task`: the task's validate_row."""
    return get_task(task).validate_row


def parse_import(lines: Iterable[bytes | str], max_errors: int = 20,
                 make_row: Callable[[Any, int], dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Every line through ``make_row(object, line number)`` (default: the default task's validate_row); the rows,
    or ImportFailed naming every bad line."""
    make_row = make_row or row_maker(DEFAULT_TASK)
    rows: list[dict[str, Any]] = []
    errors: list[tuple[int, str]] = []
    truncated = False
    for number, raw in enumerate(lines, start=1):
        if len(errors) >= max_errors:
            truncated = True
            break
        try:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            errors.append((number, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"))
            continue
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append((number, f"not valid JSON: {exc.msg} at column {exc.colno}"))
            continue
        try:
            rows.append(make_row(obj, number))
        except ValueError as exc:
            errors.append((number, str(exc)))
    if errors:
        raise ImportFailed(errors, truncated)
    if not rows:
        raise ImportFailed([(0, "the file holds no rows")])
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK,
                        help="the task type whose rows the file holds (default: %(default)s)")
    args = parser.parse_args(argv)
    with open(args.path, "rb") as handle:
        try:
            rows = parse_import(handle, make_row=row_maker(args.task))
        except ImportFailed as exc:
            raise SystemExit("\n".join(f"line {n}: {p}" for n, p in exc.errors))
    print(f"{len(rows)} valid rows")


if __name__ == "__main__":
    main()
