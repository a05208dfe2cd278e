"""A local causal LM answering a text task (``pipeline.tasks.registry``) by free greedy generation.

The prompt is the task's own chat, ``task.chat_messages(row, False, train_mode)``,
rendered with the model's chat template exactly as SFT rendered the training
chats, so the base model (``prompt_baseline``) and the fine-tuned one read the
same instruction. The answer is whatever the model writes, up to
``max_new_tokens``; the task's parser reads it, so an unreadable answer counts
as such instead of being forced into shape.

Rows rather than bare texts go in (``predict_rows``) because a prompt may
depend on more than the text: multiple_choice's system prompt follows the
row's ``meta.mode`` under train mode ``auto``, and mentions retrieved context.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.tasks.predictors import Prediction
from pipeline.infer.hf import LoadedModel, generate_greedy

if TYPE_CHECKING:
    from pipeline.tasks.registry import TextTask

DEFAULT_MAX_NEW_TOKENS = 64  # without train answers to measure: a label, a letter, or a few sentences
MAX_NEW_TOKENS_CAP = 512
_ANSWER_SLACK = 8  # room after the longest train answer for an end-of-turn token and a little drift


def answer_token_budget(loaded: LoadedModel, answers: Sequence[str]) -> int:
    """Tokens to decode: the longest gold answer (e.g. of the train split) plus slack, capped."""
    if not answers:
        return DEFAULT_MAX_NEW_TOKENS
    longest = max(len(loaded.tokenizer(answer, add_special_tokens=False)["input_ids"]) for answer in answers)
    return min(MAX_NEW_TOKENS_CAP, longest + _ANSWER_SLACK)


class TaskChatPredictor:
    """A model behind the Predictor protocol for one text task; keep one per model (loading takes seconds)."""

    def __init__(self, loaded: LoadedModel, name: str, task: TextTask, train_mode: str | None = None,
                 max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS) -> None:
        if not loaded.tokenizer.chat_template:
            raise ValueError(f"{loaded.model_name} has no chat template; prompts cannot be rendered as in training")
        self.name = name
        self.model_id = loaded.model_name
        self.adapter = loaded.adapter
        self.loaded = loaded
        self.task = task
        self.train_mode = train_mode
        self.max_new_tokens = max_new_tokens

    def prompt_ids(self, row: Mapping[str, Any]) -> list[int]:
        """The chat template's rendering of the task prompt, ending with the generation prompt."""
        messages = self.task.chat_messages(row, False, self.train_mode)
        rendered = self.loaded.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        # The template writes any special tokens itself; the tokenizer must not add another BOS.
        return list(self.loaded.tokenizer(rendered, add_special_tokens=False)["input_ids"])

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """Bare texts as rows without meta (what the playground has)."""
        return self.predict_rows([{"text": text} for text in texts])

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """One Prediction per row, each generated and timed alone (tokenization included)."""
        return [self._predict_one(row) for row in rows]

    def _predict_one(self, row: Mapping[str, Any]) -> Prediction:
        started = time.perf_counter()
        prompt_ids = self.prompt_ids(row)
        raw, completion_ids = generate_greedy(self.loaded, prompt_ids, self.max_new_tokens)
        latency_ms = (time.perf_counter() - started) * 1000
        return Prediction(raw=raw, latency_ms=latency_ms, tokens_decoded=len(completion_ids),
                          usage={"prompt_tokens": len(prompt_ids), "completion_tokens": len(completion_ids)})
