"""A trained head (``pipeline.train.cls_head``, ``pipeline.train.reg_head``) as a Predictor.

The raw output is what a generative model of the task would answer, written
with ``task.format_answer``: the label for a classification head, the values
of the task's answer fields for a regression head (the six-parameter JSON), so
the eval runner, the A/B test and the playground treat it like any model. The
task is the one the head card names (cards written before cards named it: the
registered task whose head labels are the card's).
One forward pass per request, no generation: the latency to beat for SFT models.
A request longer than the card's ``max_seq_length`` is cut to it, and its
Prediction says so (``usage["truncated"]``), so an evaluation counts the cuts.
``ServedHead`` is all of this but the forward pass, which the ONNX export's predictor
(``pipeline.infer.onnx_head``) shares, so both write the same answer for the same outputs.

``rule_weight`` (an option, or ``"rule_weight"`` in the head card) makes a
regression head a hybrid with the task's rules, output by output: where the
rules abstain (no lexicon term: the middle of the range) the head decides,
where they speak the two are blended (``blend_with_rules``). Off by default;
bench/field_accuracy.py measures it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.tasks.predictors import Prediction
from pipeline.tasks.registry import AnswerField, Task, get_task
from pipeline.train.cls_head import HEAD_CARD_NAME, load_classifier, load_tokenizer, task_for_head, tokenize
from pipeline.train.reg_head import from_outputs, output_fields

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase


def is_head_adapter(adapter: str | Path) -> bool:
    """Whether an adapter directory holds a trained head (its card) rather than an SFT adapter."""
    return (Path(adapter) / HEAD_CARD_NAME).is_file()


def blend_with_rules(head: Sequence[int], rules: Sequence[int | None], fields: Sequence[AnswerField],
                     rule_weight: float) -> tuple[int, ...]:
    """Per output: the head's value where the rules abstain (their value is the field's midpoint, the answer to a
    request with no lexicon term for it, or none), else ``rule_weight * rules + (1 - rule_weight) * head``,
    rounded. ``rule_weight`` 0 is the head alone, 1 the rules wherever they speak and the head elsewhere."""
    blended = []
    for model_value, rule_value, answer_field in zip(head, rules, fields):
        if rule_value is None or rule_value * 2 == answer_field.low + answer_field.high:
            blended.append(model_value)
        else:
            blended.append(round(rule_weight * rule_value + (1 - rule_weight) * model_value))
    return tuple(blended)


class ServedHead:
    """What every served head shares, whatever runs its forward pass (PyTorch here, ONNX Runtime in
    ``pipeline.infer.onnx_head``): the card, the truncation accounting and the answer, so both write the same
    raw output for the same logits. A subclass sets ``tokenizer`` and implements ``logits``.
    """

    tokenizer: PreTrainedTokenizerBase

    def __init__(self, card_dir: str | Path, *, name: str, model_id: str, adapter: str | None,
                 task: Task | None = None, rule_weight: float | None = None) -> None:
        card_path = Path(card_dir) / HEAD_CARD_NAME
        if not card_path.is_file():
            raise ValueError(f"{card_dir} is not a head adapter (no {HEAD_CARD_NAME})")
        card = json.loads(card_path.read_text(encoding="utf-8"))
        self.name = name
        self.model_id = model_id
        self.adapter = adapter
        self.kind: str = card.get("kind", "classification")
        self.labels: tuple[str, ...] = tuple(card["labels"])
        self.task = task or (get_task(card["task"]) if card.get("task") else task_for_head(self.labels))
        if tuple(self.task.head_labels) != self.labels:
            raise ValueError(f"{card_dir}'s head answers {', '.join(self.labels)}, not {self.task.name}'s "
                             f"{', '.join(self.task.head_labels)}")
        self._fields = output_fields(self.task) if self.kind == "regression" else None
        self.max_seq_length = int(card["max_seq_length"])
        # The hybrid (off unless asked, here or in the card): the task's rules beside the regression head.
        weight = card.get("rule_weight") if rule_weight is None else rule_weight
        if weight is not None and (self.kind != "regression" or not 0 <= float(weight) <= 1):
            raise ValueError(f"rule_weight blends a regression head with the rules and is 0 .. 1, got {weight!r}"
                             f" for a {self.kind} head")
        self.rule_weight: float | None = None if weight is None else float(weight)
        self._rules = self.task.rule_baseline() if self.rule_weight is not None else None

    def logits(self, input_ids: Sequence[int]) -> Sequence[float]:
        """The head's outputs for one request's token ids (batch 1)."""
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        """One Prediction per text, each run and timed alone (tokenization included)."""
        return [self._predict_one(text) for text in texts]

    def _predict_one(self, text: str) -> Prediction:
        started = time.perf_counter()
        input_ids = tokenize(self.tokenizer, [text], self.max_seq_length)["input_ids"][0]
        # Never cut silently: a request longer than the head reads is counted (the runner's truncated_rate).
        truncated = len(input_ids) >= self.max_seq_length and self.token_count(text) > self.max_seq_length
        raw = self.answer(self.logits(input_ids), text)
        latency_ms = (time.perf_counter() - started) * 1000
        return Prediction(raw=raw, latency_ms=latency_ms, tokens_decoded=1,
                          usage={"prompt_tokens": len(input_ids), "completion_tokens": 0, "truncated": truncated})

    def answer(self, outputs: Sequence[float], text: str) -> str:
        """The task's raw answer from the head's outputs for `text`: the values of a regression head (blended
        with the rules' where the hybrid is on), the argmax label of a classification head."""
        if self._fields is not None:
            values = from_outputs(outputs, self._fields)
            if self._rules is not None and self.rule_weight is not None:
                values = blend_with_rules(values, self.rule_values(text), self._fields, self.rule_weight)
            return self.task.format_answer(dict(zip(self.labels, values)))
        return self.task.format_answer(self.labels[max(range(len(outputs)), key=lambda index: outputs[index])])

    def rule_values(self, text: str) -> tuple[int | None, ...]:
        """The task's rules' value of each head output for `text` (None where they answer nothing readable)."""
        assert self._rules is not None
        parsed = self.task.parse(self._rules.predict([text])[0].raw)
        return tuple(parsed.get(label) if isinstance(parsed, dict) else None for label in self.labels)

    def token_count(self, text: str) -> int:
        """How many tokens the request is before the head cuts it to ``max_seq_length``."""
        return len(self.tokenizer(text, truncation=False)["input_ids"])


class HeadPredictor(ServedHead):
    """Base model + LoRA adapter + trained head, merged, in eval mode; kind, task and labels from ``cls_head.json``.

    Build it once and keep it (``ModelCache(loader=HeadPredictor)``):
    loading and merging take seconds, a prediction milliseconds.
    """

    def __init__(self, model_name: str, adapter: str, name: str = "fine_tuned", cache_dir: str | None = None,
                 device: str | None = None, task: Task | None = None, rule_weight: float | None = None) -> None:
        import torch
        from peft import PeftModel

        from pipeline.train.base_models import resolve_base_model

        super().__init__(adapter, name=name, model_id=model_name, adapter=adapter, task=task,
                         rule_weight=rule_weight)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        path = resolve_base_model(model_name, Path(cache_dir) if cache_dir else None)
        # Training saved the tokenizer (pad token included) beside the adapter.
        self.tokenizer = load_tokenizer(adapter if (Path(adapter) / "tokenizer_config.json").is_file() else path)
        precision = "bf16" if self.device.type == "cuda" and torch.cuda.is_bf16_supported() else "fp32"
        base = load_classifier(path, self.tokenizer, precision, self.labels, regression=self.kind == "regression")
        if base.config.num_labels != len(self.labels):
            raise ValueError(f"{adapter} has {len(self.labels)} labels but the head has {base.config.num_labels}")
        self.model = PeftModel.from_pretrained(base, adapter).merge_and_unload().to(self.device).eval()

    def logits(self, input_ids: Sequence[int]) -> list[float]:
        import torch

        with torch.inference_mode():
            return self.model(input_ids=torch.tensor([list(input_ids)], device=self.device)).logits[0].float().tolist()
