"""What every predictor (rule, prompt baseline, fine-tuned, remote) looks like to the eval runner and playground."""

from __future__ import annotations

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
