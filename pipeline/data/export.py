"""Export formats of a task's rows: chat JSONL (TRL and Mistral fine-tuning) and prompt/completion.

Both are the task's own chat (``task.chat_messages(row, True, train_mode)``):
what SFT teaches is exactly what the task's predictors prompt with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pipeline.data.jsonl import write_jsonl
from pipeline.tasks.registry import Task


def chat_record(task: Task, row: Mapping[str, Any], train_mode: str | None = None) -> dict[str, Any]:
    """{"messages": [system, user, assistant]}: TRL's conversational format and Mistral's."""
    return {"messages": task.chat_messages(row, True, train_mode)}


def prompt_completion_record(task: Task, row: Mapping[str, Any], train_mode: str | None = None) -> dict[str, Any]:
    """TRL's conversational prompt/completion format: loss falls on the completion only."""
    *prompt, answer = task.chat_messages(row, True, train_mode)
    return {"prompt": prompt, "completion": [answer]}


EXPORT_FORMATS: dict[str, Callable[..., dict[str, Any]]] = {
    "chat": chat_record,
    "prompt_completion": prompt_completion_record,
}


def export_filename(fmt: str, split: str) -> str:
    return f"{fmt}_{split}.jsonl"


def export_rows(task: Task, split: str, rows: Sequence[Mapping[str, Any]],
                train_mode: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """File name -> records of every export format of a split; a row the train mode cannot render (the task's
    ValueError, e.g. a direct answer under "cot") is left out of the exports."""
    records: dict[str, list[dict[str, Any]]] = {export_filename(fmt, split): [] for fmt in EXPORT_FORMATS}
    for row in rows:
        try:
            converted = {export_filename(fmt, split): convert(task, row, train_mode)
                         for fmt, convert in EXPORT_FORMATS.items()}
        except ValueError:
            continue
        for filename, record in converted.items():
            records[filename].append(record)
    return records


def write_exports(out_dir: str | Path, task: Task, split: str, rows: Sequence[Mapping[str, Any]],
                  train_mode: str | None = None) -> list[Path]:
    return [write_jsonl(Path(out_dir) / filename, records)
            for filename, records in export_rows(task, split, rows, train_mode).items()]
