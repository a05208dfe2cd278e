"""Put several evaluations side by side (the seed's `aggregate_metrics`).

Run alone:
    python -m pipeline.eval.aggregate_metrics results/ --out summary.json

Reads the *.metrics.json files that `run_eval` writes (directories are
searched for them), prints one column per run and one row per metric, and
writes the same as JSON.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.data.jsonl import read_json, write_json
from pipeline.eval.metrics import COUNT_KEY, lower_is_better, ordered_metric_keys
from pipeline.tasks.registry import Task, get_task, task_names


def metrics_files(paths: Sequence[str | Path]) -> list[Path]:
    """The metrics files named, or found (sorted) inside the directories named."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(path.glob("*.metrics.json")))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    if not found:
        raise FileNotFoundError("no *.metrics.json files found")
    return found


def load_runs(paths: Sequence[str | Path]) -> list[dict[str, Any]]:
    runs = []
    for path in metrics_files(paths):
        data = read_json(path)
        if not isinstance(data, dict) or "metrics" not in data or "provenance" not in data:
            raise ValueError(f"{path}: not a run_eval metrics file (needs 'provenance' and 'metrics')")
        runs.append({"source": str(path), **data})
    return runs


def column_labels(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Predictor names, made unique with #2, #3... when a predictor appears more than once."""
    labels, seen = [], {}
    for run in runs:
        name = run["provenance"].get("predictor") or Path(run["source"]).stem
        seen[name] = seen.get(name, 0) + 1
        labels.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return labels


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.4g}"


def runs_task(runs: Sequence[Mapping[str, Any]]) -> Task | None:
    """The task every run names in its provenance, if they agree on a registered one (files written before
    evaluations named their task name none)."""
    names = {run["provenance"].get("task") for run in runs} - {None}
    if len(names) == 1 and (name := names.pop()) in task_names():
        return get_task(name)
    return None


def format_table(runs: Sequence[Mapping[str, Any]]) -> str:
    """A plain-text table, one column per run, metrics in the task's order; ↓/↑ marks which way is better."""
    labels = column_labels(runs)
    task = runs_task(runs)
    keys = ordered_metric_keys({key for run in runs for key in run["metrics"]}, task)
    names = [key if key == COUNT_KEY else f"{key} {'↓' if lower_is_better(key, task) else '↑'}" for key in keys]
    width = max(len(name) for name in names)
    widths = [max(len(label), 10) for label in labels]
    lines = ["  ".join([" " * width, *(label.rjust(w) for label, w in zip(labels, widths))])]
    for name, key in zip(names, keys):
        cells = [_cell(run["metrics"].get(key)).rjust(w) for run, w in zip(runs, widths)]
        lines.append("  ".join([name.ljust(width), *cells]))
    hashes = eval_set_hashes(runs)
    if len(hashes) > 1:
        lines.append(f"note: these runs used {len(hashes)} different eval sets; compare only within one")
    return "\n".join(lines)


def eval_set_hashes(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    return sorted({run["provenance"].get("eval_set_hash") or "?" for run in runs})


def summarize_runs(runs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The JSON form of the table: runs keyed by column label."""
    return {
        "columns": column_labels(runs),
        "runs": [dict(run) for run in runs],
        "eval_set_hashes": eval_set_hashes(runs),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", help="*.metrics.json files or directories holding them")
    parser.add_argument("--out", help="write the summary JSON here")
    args = parser.parse_args(argv)
    try:
        runs = load_runs(args.paths)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    print(format_table(runs))
    if args.out:
        write_json(args.out, summarize_runs(runs))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
