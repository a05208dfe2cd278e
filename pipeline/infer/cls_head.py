"""A trained head (``pipeline.train.cls_head``, ``pipeline.train.reg_head``) as a Predictor.

The raw output is what a generative model of the task would answer, written
with ``task.format_answer``: the label for a classification head, the values
of the task's answer fields for a regression head (the six-parameter JSON), so
the eval runner, the A/B test and the playground treat it like any model. The
task is the one the head card names (cards written before cards named it: the
registered task whose head labels are the card's).
One forward pass per request, no generation: the latency to beat for SFT models.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

from pipeline.tasks.predictors import Prediction
from pipeline.tasks.registry import Task, get_task
from pipeline.train.cls_head import HEAD_CARD_NAME, load_classifier, load_tokenizer, task_for_head, tokenize
from pipeline.train.reg_head import from_outputs, output_fields


def is_head_adapter(adapter: str | Path) -> bool:
    """Whether an adapter directory holds a trained head (its card) rather than an SFT adapter."""
    return (Path(adapter) / HEAD_CARD_NAME).is_file()


class HeadPredictor:
    """Base model + LoRA adapter + trained head, merged, in eval mode; kind, task and labels from ``cls_head.json``.

    Build it once and keep it (``ModelCache(loader=HeadPredictor)``):
    loading and merging take seconds, a prediction milliseconds.
    """

    def __init__(self, model_name: str, adapter: str, name: str = "fine_tuned", cache_dir: str | None = None,
                 device: str | None = None, task: Task | None = None) -> None:
        import torch
        from peft import PeftModel

        from pipeline.train.base_models import resolve_base_model

        card_path = Path(adapter) / HEAD_CARD_NAME
        if not card_path.is_file():
            raise ValueError(f"{adapter} is not a head adapter (no {HEAD_CARD_NAME})")
        card = json.loads(card_path.read_text(encoding="utf-8"))
        self.name = name
        self.model_id = model_name
        self.adapter = adapter
        self.kind: str = card.get("kind", "classification")
        self.labels: tuple[str, ...] = tuple(card["labels"])
        self.task = task or (get_task(card["task"]) if card.get("task") else task_for_head(self.labels))
        if tuple(self.task.head_labels) != self.labels:
            raise ValueError(f"{adapter}'s head answers {', '.join(self.labels)}, not {self.task.name}'s "
                             f"{', '.join(self.task.head_labels)}")
        self._fields = output_fields(self.task) if self.kind == "regression" else None
        self.max_seq_length = int(card["max_seq_length"])
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        path = resolve_base_model(model_name, Path(cache_dir) if cache_dir else None)
        # Training saved the tokenizer (pad token included) beside the adapter.
        self.tokenizer = load_tokenizer(adapter if (Path(adapter) / "tokenizer_config.json").is_file() else path)
        precision = "bf16" if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
        base = load_classifier(path, self.tokenizer, precision, self.labels, regression=self.kind == "regression")
        if base.config.num_labels != len(self.labels):
            raise ValueError(f"{adapter} has {len(self.labels)} labels but the head has {base.config.num_labels}")
        self.model = PeftModel.from_pretrained(base, adapter).merge_and_unload().to(self.device).eval()

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text, each run and timed alone (tokenization included)."""
        return [self._predict_one(text) for text in texts]

    def _predict_one(self, text: str) -> Prediction:
        import torch

        started = time.perf_counter()
        input_ids = tokenize(self.tokenizer, [text], self.max_seq_length)["input_ids"]
        with torch.inference_mode():
            logits = self.model(input_ids=torch.tensor(input_ids, device=self.device)).logits
        if self._fields is not None:
            raw = self.task.format_answer(dict(zip(self.labels, from_outputs(logits[0].tolist(), self._fields))))
        else:
            raw = self.task.format_answer(self.labels[int(logits[0].argmax())])
        latency_ms = (time.perf_counter() - started) * 1000
        return Prediction(raw=raw, latency_ms=latency_ms, tokens_decoded=1,
                          usage={"prompt_tokens": len(input_ids[0]), "completion_tokens": 0})
