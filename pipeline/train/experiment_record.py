"""A Markdown experiment record: what was trained, on which exact data, how it was evaluated, what we saw.

The run card (``run_card.json``, written by ``pipeline.train.sft``) is for
machines; this record is for the person comparing patterns A-D a month later.
Dataset hashes are computed from the files when the record is written, so the
record names the bytes that exist now; the CLI warns when they differ from the
hashes the run card took at training time.

CLI: ``python -m pipeline.train.experiment_record RUN_DIR [--eval-command CMD ...]
[--eval-results results.json] [--notes TEXT] [--out RECORD.md]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.train.sft import RUN_CARD_NAME, sha256_file

RECORD_NAME = "EXPERIMENT.md"


def _cell(value: Any) -> str:
    """One Markdown table cell: pipes escaped, newlines folded, floats short, None as a dash."""
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, (list, dict)):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(_cell(value) for value in row) + " |" for row in rows)
    return lines


def format_duration(seconds: float) -> str:
    """"1h 02m 03s (3723.4 s)": readable, and exact enough to compare runs."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    readable = f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"
    return f"{readable} ({seconds:.1f} s)"


def _results_table(eval_results: Mapping[str, Any]) -> list[str]:
    """Flat {metric: value} -> two columns; {predictor: {metric: value}} -> one column per predictor."""
    if not eval_results:
        return ["_No evaluation results recorded._"]
    if all(isinstance(value, Mapping) for value in eval_results.values()):
        predictors = list(eval_results)
        metrics = list(dict.fromkeys(key for values in eval_results.values() for key in values))
        return _table(["metric", *predictors],
                      [[metric, *(eval_results[name].get(metric) for name in predictors)] for metric in metrics])
    return _table(["metric", "value"], list(eval_results.items()))


def write_experiment_record(
    *,
    run_id: str,
    created_at: datetime | str,
    code_commit: str | None,
    base_model: str,
    datasets: Mapping[str, Path],
    hyperparameters: Mapping[str, Any],
    training_seconds: float | None,
    eval_commands: Sequence[str],
    eval_results: Mapping[str, Any],
    notes: str = "",
    out: Path,
) -> Path:
    """Write the Markdown record to ``out`` (parents created) and return its path.

    Dataset hashes are computed here (FileNotFoundError names a missing file).
    """
    date = created_at.isoformat(timespec="seconds") if isinstance(created_at, datetime) else created_at
    lines = [
        f"# Experiment {run_id}",
        "",
        *_table(["field", "value"], [
            ["id", run_id],
            ["date", date],
            ["code commit", code_commit or "unknown (not a git checkout)"],
            ["base model", base_model],
            ["training time", format_duration(training_seconds) if training_seconds is not None else None],
        ]),
        "",
        "## Datasets",
        "",
        *_table(["split", "file", "sha256"],
                [[name, str(path), sha256_file(path)] for name, path in datasets.items()]),
        "",
        "## Hyperparameters",
        "",
        *_table(["name", "value"], list(hyperparameters.items())),
        "",
        "## Evaluation",
        "",
        "Commands:",
        "",
        *(["```bash", *eval_commands, "```"] if eval_commands else ["_No evaluation commands recorded._"]),
        "",
        "Results:",
        "",
        *_results_table(eval_results),
        "",
        "## Notes",
        "",
        notes.strip() or "_None._",
        "",
    ]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def record_from_run_dir(
    run_dir: Path,
    *,
    eval_commands: Sequence[str] = (),
    eval_results: Mapping[str, Any] | None = None,
    notes: str = "",
    run_id: str | None = None,
    created_at: datetime | str | None = None,
    out: Path | None = None,
) -> tuple[Path, list[str]]:
    """(record path, warnings) for a finished run directory, read from its run card.

    Defaults: the directory name as id, the run card's modification time as
    date, ``RUN_DIR/EXPERIMENT.md`` as output. A dataset whose hash changed
    since training is a warning, also appended to the notes.
    """
    run_dir = Path(run_dir)
    card_path = run_dir / RUN_CARD_NAME
    if not card_path.is_file():
        raise FileNotFoundError(f"{card_path} not found; is {run_dir} a finished training run?")
    card = json.loads(card_path.read_text(encoding="utf-8"))
    datasets = {name: Path(entry["path"]) for name, entry in card.get("datasets", {}).items()}
    warnings = [
        f"dataset {name!r} ({path}) changed since training: run card sha256 {card['datasets'][name]['sha256']}"
        for name, path in datasets.items()
        if path.is_file() and sha256_file(path) != card["datasets"][name].get("sha256")
    ]
    if created_at is None:
        created_at = datetime.fromtimestamp(card_path.stat().st_mtime, tz=timezone.utc)
    path = write_experiment_record(
        run_id=run_id or run_dir.resolve().name,
        created_at=created_at,
        code_commit=card.get("code_commit"),
        base_model=card.get("base_model", "unknown"),
        datasets=datasets,
        hyperparameters=card.get("hyperparameters", {}),
        training_seconds=card.get("duration_seconds"),
        eval_commands=list(eval_commands),
        eval_results=eval_results or {},
        notes="\n\n".join(part for part in [notes.strip(), *(f"Warning: {w}." for w in warnings)] if part),
        out=out or run_dir / RECORD_NAME,
    )
    return path, warnings


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build the record of one run directory; exit 2 on a missing run card, dataset or results file."""
    parser = argparse.ArgumentParser(prog="python -m pipeline.train.experiment_record",
                                     description="Write a Markdown experiment record from a run's run_card.json.")
    parser.add_argument("run_dir", type=Path, help="a training output directory holding run_card.json")
    parser.add_argument("--out", type=Path, help=f"record path (default: RUN_DIR/{RECORD_NAME})")
    parser.add_argument("--run-id", help="record id (default: the run directory's name)")
    parser.add_argument("--created-at", help="date to record (default: the run card's modification time)")
    parser.add_argument("--eval-command", action="append", default=[], help="an evaluation command (repeatable)")
    parser.add_argument("--eval-results", type=Path,
                        help='JSON file: {"metric": value} or {"predictor": {"metric": value}}')
    notes = parser.add_mutually_exclusive_group()
    notes.add_argument("--notes", default="", help="free text for the notes section")
    notes.add_argument("--notes-file", type=Path, help="read the notes from this file")
    args = parser.parse_args(argv)
    try:
        results = json.loads(args.eval_results.read_text(encoding="utf-8")) if args.eval_results else {}
        if not isinstance(results, dict):
            raise ValueError(f"{args.eval_results}: expected a JSON object")
        path, warnings = record_from_run_dir(
            args.run_dir, eval_commands=args.eval_command, eval_results=results,
            notes=args.notes_file.read_text(encoding="utf-8") if args.notes_file else args.notes,
            run_id=args.run_id, created_at=args.created_at, out=args.out,
        )
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
