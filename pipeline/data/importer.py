"""Import an existing JSONL dataset of any task type (e.g. request_text + the six targets).

All or nothing: every bad line is reported by number and reason, and a file with
any bad line yields no rows, so a half-imported dataset can never exist. Each
task (pipeline.tasks.registry) validates an object with its own ``validate_row``.

Every line first passes the rules of `load_line`, whatever the task: strict JSON
(no NaN or Infinity, no number that overflows, no integer Python refuses to
read), nested at most MAX_DEPTH deep, and no string holding a C0 control
character other than tab, newline and return (NUL included: PostgreSQL refuses
it) or a lone surrogate. A UTF-8 byte order mark at the start of the file is
skipped.

Run alone (validation only): python -m pipeline.data.importer data.jsonl [--task four_class]
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pipeline.tasks.registry import DEFAULT_TASK, get_task, task_names

# Rows are flat objects holding a few lists; anything deeper is not a row (and could exhaust the stack).
MAX_DEPTH = 20
_FORBIDDEN_CHARACTER = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_BOM = "\ufeff"


class ImportFailed(ValueError):
    """Carries every (line number, problem) found, up to a cap, for the upload page."""

    def __init__(self, errors: list[tuple[int, str]], truncated: bool = False) -> None:
        self.errors = errors
        self.truncated = truncated
        shown = "; ".join(f"line {number}: {problem}" for number, problem in errors)
        super().__init__(shown + (" (more errors not shown)" if truncated else ""))


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored (a control character or a lone surrogate), None when it can."""
    found = _FORBIDDEN_CHARACTER.search(text)
    if found is None:
        return None
    character = found.group()
    kind = "a lone surrogate" if "\ud800" <= character <= "\udfff" else "a control character"
    return f"{kind} (U+{ord(character):04X}) at position {found.start() + 1}"


def _finite(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"the number {literal[:20]} is too large")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number JSON allows")


def _check_values(obj: Any) -> None:
    """Walk `obj` without recursion: its depth, and every string (keys too) through text_problem."""
    stack = [(obj, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value)
            if problem:
                raise ValueError(f"a string holds {problem}")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
            stack.extend((item, depth + 1) for item in items)


def load_line(line: str) -> Any:
    """One line's JSON value under the import rules (module docstring); ValueError naming the problem."""
    try:
        obj = json.loads(line, parse_constant=_no_constant, parse_float=_finite)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # our parse hooks, or an integer over sys.get_int_max_str_digits()
        message = str(exc)
        if message.startswith("Exceeds the limit"):
            message = "an integer has too many digits"
        raise ValueError(f"not valid JSON: {message}") from None
    _check_values(obj)
    return obj


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
        if number == 1:
            line = line.removeprefix(_BOM)
        if not line.strip():
            continue
        try:
            rows.append(make_row(load_line(line), number))
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
