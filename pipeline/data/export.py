"""Export formats of a split: chat JSONL (TRL and Mistral fine-tuning) and prompt/completion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pipeline.data.jsonl import write_jsonl
from pipeline.tasks.hidden_params import chat_messages


def chat_record(row: dict[str, Any]) -> dict[str, Any]:
    """{"messages": [system, user, assistant]}: TRL's conversational format and Mistral's."""
    return {"messages": chat_messages(row["request_text"], row["target"])}


def prompt_completion_record(row: dict[str, Any]) -> dict[str, Any]:
    """TRL's conversational prompt/completion format: loss falls on the completion only."""
    *prompt, answer = chat_messages(row["request_text"], row["target"])
    return {"prompt": prompt, "completion": [answer]}


EXPORT_FORMATS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "chat": chat_record,
    "prompt_completion": prompt_completion_record,
}


def export_filename(fmt: str, split: str) -> str:
    return f"{fmt}_{split}.jsonl"


def write_exports(out_dir: str | Path, split: str, rows: Sequence[dict[str, Any]]) -> list[Path]:
    return [
        write_jsonl(Path(out_dir) / export_filename(fmt, split), (convert(row) for row in rows))
        for fmt, convert in EXPORT_FORMATS.items()
    ]
