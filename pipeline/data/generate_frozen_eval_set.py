"""Stage 4 (freeze): the test split becomes an immutable eval set named by its content hash.

Every metric row names this hash, so two evaluations are comparable exactly when
their hashes match. Freezing the same content again returns the existing set and
never rewrites it.

Run alone:
    python -m pipeline.data.generate_frozen_eval_set --test splits/test.jsonl --frozen-dir frozen/ [--task four_class]
"""

from __future__ import annotations

import argparse
import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.data.jsonl import dumps, read_jsonl
from pipeline.tasks.registry import DEFAULT_TASK, get_task, task_names
from pipeline.tasks.text import NearDuplicateIndex

# Only what defines an eval example goes into the hash; ids and usage do not. A task says which keys those are
# (``task.hashed_fields``); these are the default task's, the default of the functions below for the sets frozen
# before tasks said so. ``ALL_FIELDS``: every key of a row.
HASHED_FIELDS = get_task(DEFAULT_TASK).hashed_fields
ALL_FIELDS = None
Fields = Sequence[str] | None


class FrozenSetCorrupted(RuntimeError):
    """A frozen file no longer matches its name: someone edited it by hand."""


@dataclass(frozen=True)
class FrozenEvalSet:
    content_hash: str
    path: Path
    size: int
    created: bool


def canonical_lines(rows: Sequence[dict[str, Any]], fields: Fields = HASHED_FIELDS) -> list[str]:
    """One JSON line per row with only ``fields`` (every key, sorted, when ``fields`` is ALL_FIELDS)."""
    return [dumps({key: row[key] for key in (sorted(row) if fields is None else fields) if key in row})
            for row in rows]


def content_hash(rows: Sequence[dict[str, Any]], fields: Fields = HASHED_FIELDS) -> str:
    digest = hashlib.sha256()
    for line in canonical_lines(rows, fields):
        digest.update(line.encode("utf-8") + b"\n")
    return digest.hexdigest()


def file_hash(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def freeze(rows: Sequence[dict[str, Any]], frozen_dir: str | Path, fields: Fields = HASHED_FIELDS) -> FrozenEvalSet:
    """Write <frozen_dir>/<hash>.jsonl read-only, unless that set already exists.

    The file holds the canonical lines, so hashing its rows again (with the same ``fields``) gives its name.
    """
    if not rows:
        raise ValueError("cannot freeze an empty test split")
    frozen_dir = Path(frozen_dir)
    frozen_dir.mkdir(parents=True, exist_ok=True)
    lines = canonical_lines(rows, fields)
    digest = content_hash(rows, fields)
    path = frozen_dir / f"{digest}.jsonl"
    if path.exists():
        if file_hash(path) != digest:
            raise FrozenSetCorrupted(f"{path} does not match its content hash; refusing to overwrite it")
        return FrozenEvalSet(digest, path, len(lines), created=False)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    tmp.chmod(0o444)
    try:
        os.link(tmp, path)  # fails if another process froze the same set first
    except FileExistsError:
        tmp.unlink()
        return FrozenEvalSet(digest, path, len(lines), created=False)
    tmp.unlink()
    return FrozenEvalSet(digest, path, len(lines), created=True)


def near_duplicates_against(test_rows: Sequence[dict[str, Any]], train_rows: Sequence[dict[str, Any]],
                            text_key: str = "request_text") -> int:
    """How many eval examples have a near-duplicate in train (DESIGN §8): should be 0."""
    index = NearDuplicateIndex()
    for position, row in enumerate(train_rows):
        index.insert(str(position), row[text_key])
    return sum(1 for row in test_rows if index.query(row[text_key]))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=task_names(), default=DEFAULT_TASK, help="task type (default: %(default)s)")
    parser.add_argument("--test", required=True, help="test split JSONL")
    parser.add_argument("--frozen-dir", required=True)
    args = parser.parse_args(argv)
    frozen = freeze(read_jsonl(args.test), args.frozen_dir, get_task(args.task).hashed_fields)
    verb = "froze" if frozen.created else "already frozen:"
    print(f"{verb} {frozen.size} examples as {frozen.content_hash} at {frozen.path}")


if __name__ == "__main__":
    main()
