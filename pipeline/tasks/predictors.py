"""What every predictor (rule, prompt baseline, fine-tuned, remote) looks like to the eval runner, the playground
and the task packages (whose rule baselines are predictors)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Prediction:
    """One model answer: the raw text exactly as produced, and what it cost."""

    raw: str
    latency_ms: float
    tokens_decoded: int = 0
    usage: dict = field(default_factory=dict)  # e.g. {"prompt_tokens": .., "completion_tokens": ..} for API models


class Predictor(Protocol):
    name: str  # "rule_baseline", "prompt_baseline", "fine_tuned", ...
    model_id: str  # base model id or "rules"
    adapter: str | None  # adapter path/id, None when none

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text, in order. Latency is per request (batch 1 semantics for p95)."""
        ...


class RulePredictor:
    """A Predictor that answers by a rule (no model, no adapter): ``answer`` per text, each request timed alone."""

    name = "rule_baseline"
    model_id = "rules"
    adapter: str | None = None

    def answer(self, text: str) -> str:
        """The raw output for one text."""
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        predictions = []
        for text in texts:
            started = time.perf_counter()
            raw = self.answer(text)
            predictions.append(Prediction(raw=raw, latency_ms=(time.perf_counter() - started) * 1000))
        return predictions
