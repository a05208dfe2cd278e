"""A Mistral chat model as a predictor of any task (the "remote" mode of run_eval, and the playground).

It sees the task's own chat (``task.chat_messages``), optionally k solved train
rows as earlier chat turns (the same few-shot format as the local prompt
baseline), and its answer is scored by the same strict parser as every other
predictor. JSON mode is on by default where the task's answer is a fixed JSON
skeleton (``task.constrained_decoding``): it is what anyone calling the API for
structured output would do, and it is free.

Latency is the wall time of the whole request, retries and their waits
included, one request at a time: that is what the game would pay (DESIGN §6).
Each Prediction carries the token usage the API reported, so that
``CostModel.api`` prices the run from real usage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipeline.mistral import (
    CostLedger,
    answer_text,
    chat_complete,
    make_client,
)
from pipeline.tasks.predictors import Prediction
from pipeline.tasks.registry import DEFAULT_TASK, Task, get_task

if TYPE_CHECKING:
    from mistralai.client import Mistral

FewShot = Sequence[Mapping[str, Any]]  # solved train rows, as hf.few_shot_examples returns
# Room for the longest valid six-value answer ({"energy":100,...}) in any tokenizer, or a label, plus a little.
DEFAULT_MAX_TOKENS = 96


class MistralPredictor:
    """Predictor over Mistral's chat API: ``name`` "remote:<model>", ``model_id`` the model, no adapter."""

    adapter: str | None = None

    def __init__(
        self,
        model: str,
        client_or_api_key: Mistral | str,
        server_url: str | None = None,
        *,
        task: Task | None = None,
        few_shot: FewShot = (),
        json_mode: bool | None = None,
        temperature: float = 0.0,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        max_retries: int = 4,
        base_delay_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        ledger: CostLedger | None = None,
        on_log: Callable[[str], None] | None = None,
    ) -> None:
        if isinstance(client_or_api_key, str):
            self.client = make_client(client_or_api_key, server_url)
        else:
            self.client = client_or_api_key
        self.name = f"remote:{model}"
        self.model_id = model
        self.task = task or get_task(DEFAULT_TASK)
        self.few_shot = list(few_shot)
        self.json_mode = self.task.constrained_decoding if json_mode is None else json_mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.base_delay_s = base_delay_s
        self.sleep = sleep
        self.ledger = ledger
        self.on_log = on_log
        self._shots = [message for row in self.few_shot
                       for message in self.task.chat_messages(row, True) if message["role"] != "system"]

    def messages(self, row: Mapping[str, Any]) -> list[dict[str, str]]:
        """The task's chat for one row, the few-shot turns between its system message and the request."""
        messages = self.task.chat_messages(row, False)
        system = sum(1 for message in messages if message["role"] == "system")
        return messages[:system] + self._shots + messages[system:]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One request per text, in order; API failures (after retries) raise MistralAPIError."""
        return self.predict_rows([{self.task.text_key: text} for text in texts])

    def predict_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[Prediction]:
        """One request per row (the prompt may read more of a row than its text), in order."""
        return [self._predict_one(row) for row in rows]

    def _predict_one(self, row: Mapping[str, Any]) -> Prediction:
        messages = self.messages(row)
        started = time.perf_counter()
        response, usage = chat_complete(
            self.client,
            f"Mistral chat ({self.model_id})",
            max_retries=self.max_retries,
            base_delay_s=self.base_delay_s,
            sleep=self.sleep,
            on_retry=self.on_log,
            model=self.model_id,
            messages=messages,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            response_format={"type": "json_object"} if self.json_mode else None,
        )
        latency_ms = (time.perf_counter() - started) * 1000
        if self.ledger is not None:
            self.ledger.record("inference", self.model_id, usage)
        return Prediction(
            raw=answer_text(response),
            latency_ms=latency_ms,
            tokens_decoded=usage["completion_tokens"],
            usage=usage,
        )
