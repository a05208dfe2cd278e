"""What the model reads: a system prompt per answer mode, and the chat turns a train mode asks for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pipeline.tasks.multiple_choice.parsing import split_output
from pipeline.tasks.multiple_choice.schema import MODES, TRAIN_MODES

SYSTEM_PROMPTS = {
    "direct": 'You answer multiple-choice questions. Reply with the letter of the correct option only, '
              'in the form "Answer: X".',
    "cot": "You answer multiple-choice questions. Think step by step in a few short sentences, "
           'then end with "Answer: X", where X is the letter of the correct option.',
}
CONTEXT_INSTRUCTION = " Use the context given before the question."
CONTEXT_LABELS = {"en": "Context: ", "ja": "参考: "}


def prompt_mode(row: Mapping[str, Any], train_mode: str | None) -> str:
    """direct or cot for one row: the train mode, or the row's meta.mode under auto (direct when it has none)."""
    if train_mode not in (None, *TRAIN_MODES):
        raise ValueError(f"train mode must be one of {', '.join(TRAIN_MODES)}, got {train_mode!r}")
    if train_mode in MODES:
        return train_mode
    mode = (row.get("meta") or {}).get("mode")
    return mode if mode in MODES else "direct"


def chat_messages(row: Mapping[str, Any], with_answer: bool, train_mode: str | None = None) -> list[dict[str, str]]:
    """System + user (+ assistant) turns; the system prompt tells the model which mode to answer in."""
    mode = prompt_mode(row, train_mode)
    system = SYSTEM_PROMPTS[mode] + (CONTEXT_INSTRUCTION if row.get("context") else "")
    messages = [{"role": "system", "content": system}, {"role": "user", "content": row["text"]}]
    if with_answer:
        reasoning, _ = split_output(row.get("output", ""))
        final = f"Answer: {row['answer']}"
        if mode == "cot":
            if not reasoning:
                raise ValueError(f"row {row.get('id', '?')}: train mode 'cot' needs reasoning before the answer, "
                                 "but its output is the answer only; train it with 'direct' or 'auto'")
            final = f"{reasoning}\nAnswer: {row['answer']}"
        messages.append({"role": "assistant", "content": final})
    return messages
