"""A Mistral chat model as a predictor (the "remote" mode of run_eval, and the playground).

It sees the task's own system prompt, optionally k solved examples as earlier
chat turns (the same few-shot format as the local prompt baseline), and must
answer with the JSON object; the answer is scored by the same strict parser as
every other predictor. JSON mode is on by default: it is what anyone calling
the API for structured output would do, and it is free.

Latency is the wall time of the whole request, retries and their waits
included, one request at a time: that is what the game would pay (DESIGN §6).
Each Prediction carries the token usage the API reported, so that
``CostModel.api`` prices the run from real usage.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from pipeline.tasks.predictors import Prediction
from pipeline.mistral import (
    CostLedger,
    answer_text,
    chat_complete,
    make_client,
)
from pipeline.tasks.hidden_params import SYSTEM_PROMPT, format_target

if TYPE_CHECKING:
    from mistralai.client import Mistral

FewShot = Sequence[tuple[str, Mapping[str, int]]]  # (request_text, target), as hf.few_shot_examples returns
# Room for the longest valid answer ({"energy":100,...}) in any tokenizer, plus a little.
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
        system_prompt: str = SYSTEM_PROMPT,
        few_shot: FewShot = (),
        json_mode: bool = True,
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
        self.few_shot = list(few_shot)
        self.json_mode = json_mode
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.base_delay_s = base_delay_s
        self.sleep = sleep
        self.ledger = ledger
        self.on_log = on_log
        self._prefix: list[dict[str, str]] = [{"role": "system", "content": system_prompt}]
        for text, target in self.few_shot:
            self._prefix += [{"role": "user", "content": text}, {"role": "assistant", "content": format_target(target)}]

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One request per text, in order; API failures (after retries) raise MistralAPIError."""
        return [self._predict_one(text) for text in texts]

    def _predict_one(self, text: str) -> Prediction:
        messages = [*self._prefix, {"role": "user", "content": text}]
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
