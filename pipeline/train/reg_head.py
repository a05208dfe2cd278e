"""A regression head for a task with integer outputs: LoRA on a decoder plus a linear head, one output per field
(the six-parameter task's six values; DESIGN §8).

SFT teaches the model to *write* the JSON, one digit token at a time, and
learns the request -> value mapping only through the cross-entropy of those
digits: the units digit is noise, the tens digit a ten-way guess. On a CPU,
SmolLM2-135M spends its first few hundred SFT steps predicting the marginal
digit distribution whatever the request says. This student reads the text
once (no chat template, no instruction: about 30 tokens instead of about 150)
and a linear ``score`` head maps its last token to the task's ``head_labels``,
trained with mean squared error on each value scaled to -1 .. 1 over its
field's range (0-100: ``(value - 50) / 50``). So an untrained head answers the
middle of every range, every gradient step pulls each output straight toward
its target, and a prediction is one forward pass. The answer is written with
``task.format_answer`` from the values (rounded, clamped to the range), valid
by construction like constrained decoding's.

The head trains in full (``modules_to_save``) and is stored in the adapter
beside the LoRA weights, with ``cls_head.json`` (``"kind": "regression"``, the
task, its outputs in head order) for ``pipeline.infer.cls_head``, which serves
both heads.

Input: the task's split files, one row a line with its text (``task.text_key``)
and its answer (``task.answer_key``: one integer per head output). Checkpoints,
resume, stop requests, signals and callbacks are those of ``pipeline.train.sft``,
and the result is its ``TrainResult``.

CLI: ``python -m pipeline.train.reg_head --help``. Python: ``train(RegHeadRunConfig(...))``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pipeline.tasks.registry import AnswerField, Task
from pipeline.train.cls_head import (
    eval_score_keys,
    head_cli,
    head_inputs,
    head_run_card,
    head_task,
    head_trainer,
    load_classifier,
    run_head_training,
    task_scores,
)
from pipeline.train.sft import (
    LogCallback,
    LoRARunConfig,
    MetricCallback,
    ProgressCallback,
    StopCheck,
    TrainResult,
    config_parser,
)

if TYPE_CHECKING:
    from transformers import Trainer, TrainerCallback

TRAINER = "reg_head"
# A field's range unless the task says otherwise (AnswerField's default).
_DEFAULT_FIELD = AnswerField("value", "int")


@dataclass
class RegHeadRunConfig(LoRARunConfig):
    """sft's LoRA settings, with defaults for a short input and a fresh head; stored in the run card."""

    learning_rate: float = field(default=1e-3, metadata={"help": "a fresh head learns faster than LoRA alone"})
    # SmolLM2's tokenizer spends about 1.8 tokens a Japanese character: template requests are p99 57 tokens in
    # English and 199 in Japanese, the hand-written dev set's Japanese p99 268 (bench/token_lengths.py). Batches
    # are padded to their longest row, so a limit above the usual length costs nothing on short requests.
    max_seq_length: int = field(default=288, metadata={
        "help": "tokens; longer texts are truncated, and counted (the training log, the predictor's usage)"})
    task: str | None = field(default=None, metadata={
        "help": "the task type whose outputs the head learns (default: the first registered one with a reg_head)"})


def output_fields(task: Task) -> tuple[AnswerField, ...]:
    """The answer field of each head output, in head order."""
    fields = {answer_field.key: answer_field for answer_field in task.answer_fields}
    missing = [key for key in task.head_labels if key not in fields]
    if missing or not task.head_labels:
        raise ValueError(f"{task.name} has no integer answer field for head outputs {', '.join(missing) or '(none)'}")
    return tuple(fields[key] for key in task.head_labels)


def _ranges(fields: Sequence[AnswerField] | None, count: int) -> list[tuple[int, int]]:
    if fields is not None:
        return [(f.low, f.high) for f in fields]
    return [(_DEFAULT_FIELD.low, _DEFAULT_FIELD.high)] * count


def read_regression_jsonl(path: str | os.PathLike[str],
                          task: Task | None = None) -> list[tuple[str, tuple[int, ...]]]:
    """(text, one value per head output) pairs from a task's split file; a ValueError names the file, line and
    problem. The answer may also stand at the top level of a row."""
    task = task or head_task(None, TRAINER)
    keys = [answer_field.key for answer_field in output_fields(task)]
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                examples.append(_example(task, obj, keys))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            except ValueError as error:
                raise ValueError(f"{path}:{number}: {error}") from None
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def _example(task: Task, obj: Any, keys: Sequence[str]) -> tuple[str, tuple[int, ...]]:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    text = obj.get(task.text_key)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f'"{task.text_key}" must be a non-empty string')
    answer = task.check_answer(obj.get(task.answer_key, obj))
    if not isinstance(answer, Mapping):
        raise ValueError(f"{task.name}'s answer is not a set of values a regression head can learn")
    return text.strip(), tuple(answer[key] for key in keys)


def to_labels(values: Sequence[int], fields: Sequence[AnswerField] | None = None) -> list[float]:
    """Values -> the head's targets, -1 .. 1 over each field's range (default 0-100)."""
    return [(value - (low + high) / 2) / ((high - low) / 2)
            for value, (low, high) in zip(values, _ranges(fields, len(values)))]


def from_outputs(outputs: Sequence[float], fields: Sequence[AnswerField] | None = None) -> tuple[int, ...]:
    """The head's outputs -> integers in each field's range (rounded, clamped): always a valid answer."""
    return tuple(min(high, max(low, round((low + high) / 2 + (high - low) / 2 * float(out))))
                 for out, (low, high) in zip(outputs, _ranges(fields, len(outputs))))


def regression_scores(task: Task) -> Any:
    """The Trainer's compute_metrics: the task's metrics (e.g. vector_mae) of the valid set's rounded, clamped
    answers."""
    fields = output_fields(task)
    keys = [answer_field.key for answer_field in fields]

    def compute(prediction: Any) -> dict[str, float]:
        predicted = [dict(zip(keys, from_outputs(row, fields))) for row in prediction.predictions]
        gold = [dict(zip(keys, from_outputs(row, fields))) for row in prediction.label_ids]
        return task_scores(task, gold, predicted)

    return compute


def build_trainer(config: RegHeadRunConfig, callbacks: Sequence[TrainerCallback] = (),
                  model_path: str | None = None) -> Trainer:
    """The Trainer of a run: texts tokenized, LoRA and the trainable head in place, not trained yet."""
    task = head_task(config.task, TRAINER)
    fields = output_fields(task)
    model_path, precision, tokenizer, train_data, valid_data = head_inputs(
        config, model_path, functools.partial(read_regression_jsonl, task=task),
        functools.partial(to_labels, fields=fields))
    model = load_classifier(model_path, tokenizer, precision, labels=task.head_labels, regression=True)
    return head_trainer(config, model, tokenizer, precision, train_data, valid_data,
                        compute_metrics=regression_scores(task), callbacks=callbacks)


def train(
    config: RegHeadRunConfig,
    on_progress: ProgressCallback | None = None,
    on_metric: MetricCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    handle_signals: bool = True,
) -> TrainResult:
    """Train (or resume) a LoRA regression head; the contract of ``pipeline.train.sft.train``."""
    log = on_log or (lambda line: None)
    task = head_task(config.task, TRAINER)

    def build(callbacks: list[TrainerCallback], model_path: str) -> Trainer:
        log(f"{task.name} regression head: {len(task.head_labels)} outputs, MSE on each value scaled to -1 .. 1")
        trainer = build_trainer(config, callbacks=callbacks, model_path=model_path)
        log(truncation_line(trainer.processing_class, config, task))
        return trainer

    return run_head_training(config, build, functools.partial(_run_card, config, task), "regression", task,
                             on_progress=on_progress, on_metric=on_metric, on_log=on_log, should_stop=should_stop,
                             handle_signals=handle_signals)


def count_truncated(tokenizer: Any, texts: Sequence[str], max_seq_length: int) -> int:
    """How many texts are longer than ``max_seq_length`` tokens (cut by the trainer and the predictor)."""
    return sum(len(ids) > max_seq_length for ids in tokenizer(list(texts), truncation=False)["input_ids"])


def truncation_line(tokenizer: Any, config: RegHeadRunConfig, task: Task) -> str:
    """The training log's line on truncation: how many train (and valid) texts are cut to max_seq_length."""
    parts = []
    for name, path in (("train", config.train_file), ("valid", config.valid_file)):
        if path:
            texts = [text for text, _ in read_regression_jsonl(path, task)]
            parts.append(f"{count_truncated(tokenizer, texts, config.max_seq_length)} of {len(texts)} {name}")
    return f"texts longer than max_seq_length {config.max_seq_length} tokens, truncated: {', '.join(parts)}"


def _run_card(config: RegHeadRunConfig, task: Task, model_path: str, result: TrainResult,
              log_history: list[dict[str, Any]]) -> dict[str, Any]:
    return head_run_card(config, model_path, result, log_history, TRAINER, eval_score_keys(task), task=task.name,
                         axes=list(task.head_labels))


def build_parser() -> argparse.ArgumentParser:
    """RegHeadRunConfig's flags (named as in ``pipeline.train.sft`` where they mean the same)."""
    return config_parser(
        RegHeadRunConfig,
        prog="python -m pipeline.train.reg_head",
        description="LoRA regression head (a task's integer outputs, e.g. the six hidden parameters) on a decoder: "
        "one forward pass a request. Checkpoints every --checkpoint-minutes and on SIGTERM/SIGINT; run again with "
        "the same --output-dir to resume. Exit status: 0 done, 128+N stopped by signal N.",
        helps={"train_file": "the task's split file (JSONL, one row a line with its text and answer)",
               "valid_file": "same format, evaluated every --eval-steps (loss and the task's metrics)",
               "target_modules": "comma-separated module names, a regex, or all-linear (default: per architecture)"},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; the exit status tells a queue whether to run it again (128+N after signal N)."""
    return head_cli(build_parser(), RegHeadRunConfig, train, argv)


if __name__ == "__main__":
    sys.exit(main())
