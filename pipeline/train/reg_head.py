"""A regression head for the six-parameter task: LoRA on a decoder plus a six-output linear head (DESIGN §8).

SFT teaches the model to *write* the JSON, one digit token at a time, and
learns the request -> value mapping only through the cross-entropy of those
digits: the units digit is noise, the tens digit a ten-way guess. On a CPU,
SmolLM2-135M spends its first few hundred SFT steps predicting the marginal
digit distribution whatever the request says. This student reads the request
once (no chat template, no instruction: about 30 tokens instead of about 150)
and a linear ``score`` head maps its last token to the six values, trained
with mean squared error on ``(value - 50) / 50``. So an untrained head answers
the neutral vector, every gradient step pulls each axis straight toward its
target, and a prediction is one forward pass. The JSON is written from the six
numbers (rounded, clamped to 0-100), valid by construction like constrained
decoding's.

The head trains in full (``modules_to_save``) and is stored in the adapter
beside the LoRA weights, with ``cls_head.json`` (``"kind": "regression"``,
the axes in head order) for ``pipeline.infer.cls_head``, which serves both heads.

Input: the six-parameter split files, one ``{"request_text": ..., "target": {...}}``
a line. Checkpoints, resume, stop requests, signals and callbacks are those
of ``pipeline.train.sft``, and the result is its ``TrainResult``.

CLI: ``python -m pipeline.train.reg_head --help``. Python: ``train(RegHeadRunConfig(...))``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.tasks.hidden_params import AXES, VALUE_MAX, VALUE_MIN, record_from_json, to_vector
from pipeline.train.cls_head import (
    head_cli,
    head_inputs,
    head_run_card,
    head_trainer,
    load_classifier,
    run_head_training,
)
from pipeline.train.sft import (
    LogCallback,
    LoRARunConfig,
    MetricCallback,
    ProgressCallback,
    StopCheck,
    TrainResult,
    add_model_and_data_arguments,
    add_precision_arguments,
    add_run_arguments,
)

if TYPE_CHECKING:
    from transformers import Trainer, TrainerCallback

# Labels are (value - CENTRE) / CENTRE: -1 .. 1, the neutral vector at 0.
CENTRE = (VALUE_MIN + VALUE_MAX) / 2
_EVAL_SCORES = ("vector_mae",)


@dataclass
class RegHeadRunConfig(LoRARunConfig):
    """sft's LoRA settings, with defaults for a short input and a fresh head; stored in the run card."""

    learning_rate: float = 1e-3
    max_seq_length: int = 128


def read_regression_jsonl(path: str | os.PathLike[str]) -> list[tuple[str, tuple[int, ...]]]:
    """(request text, six values) pairs from a split file; a ValueError names the file, line and problem."""
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                text, target = record_from_json(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            except ValueError as error:
                raise ValueError(f"{path}:{number}: {error}") from None
            examples.append((text, to_vector(target)))
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def to_labels(values: Sequence[int]) -> list[float]:
    """Six values 0-100 -> the head's targets, -1 .. 1."""
    return [(value - CENTRE) / CENTRE for value in values]


def from_outputs(outputs: Sequence[float]) -> tuple[int, ...]:
    """The head's six outputs -> six integers 0-100 (rounded, clamped): always a valid answer."""
    return tuple(min(VALUE_MAX, max(VALUE_MIN, round(CENTRE + CENTRE * float(out)))) for out in outputs)


def _eval_scores(prediction: Any) -> dict[str, float]:
    """vector_mae (DESIGN §6, 0-100 scale) of the valid set, on the rounded, clamped answers."""
    predicted = [from_outputs(row) for row in prediction.predictions]
    targets = [from_outputs(row) for row in prediction.label_ids]
    errors = [abs(p - t) for pred, target in zip(predicted, targets) for p, t in zip(pred, target)]
    return {"vector_mae": sum(errors) / len(errors)}


def build_trainer(config: RegHeadRunConfig, callbacks: Sequence[TrainerCallback] = (),
                  model_path: str | None = None) -> Trainer:
    """The Trainer of a run: requests tokenized, LoRA and the trainable head in place, not trained yet."""
    model_path, precision, tokenizer, train_data, valid_data = head_inputs(
        config, model_path, read_regression_jsonl, to_labels)
    model = load_classifier(model_path, tokenizer, precision, labels=AXES, regression=True)
    return head_trainer(config, model, tokenizer, precision, train_data, valid_data,
                        compute_metrics=_eval_scores, callbacks=callbacks)


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

    def build(callbacks: list[TrainerCallback], model_path: str) -> Trainer:
        log(f"regression head: {len(AXES)} outputs, MSE on (value - {CENTRE:g}) / {CENTRE:g}")
        return build_trainer(config, callbacks=callbacks, model_path=model_path)

    return run_head_training(config, build, functools.partial(_run_card, config), "regression", AXES, _EVAL_SCORES,
                             on_progress=on_progress, on_metric=on_metric, on_log=on_log, should_stop=should_stop,
                             handle_signals=handle_signals)


def _run_card(config: RegHeadRunConfig, model_path: str, result: TrainResult,
              log_history: list[dict[str, Any]]) -> dict[str, Any]:
    return head_run_card(config, model_path, result, log_history, "reg_head", _EVAL_SCORES, axes=list(AXES))


def build_parser() -> argparse.ArgumentParser:
    """Flags named as in ``pipeline.train.sft`` where they mean the same; defaults from RegHeadRunConfig."""
    defaults = RegHeadRunConfig(train_file="", output_dir="")
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.train.reg_head",
        description="LoRA regression head (the six hidden parameters) on a decoder: one forward pass a request. "
        "Checkpoints every --checkpoint-minutes and on SIGTERM/SIGINT; run again with the same --output-dir to "
        "resume. Exit status: 0 done, 128+N stopped by signal N.",
    )
    add_model_and_data_arguments(
        parser, defaults,
        train_file_help='JSONL split file, one {"request_text": ..., "target": {six axes}} a line',
        valid_file_help="same format, evaluated every --eval-steps (loss and vector_mae)",
        max_seq_length_help="tokens; longer requests are truncated",
        target_modules_help="comma-separated module names, a regex, or all-linear (default: per architecture)",
    )
    add_precision_arguments(parser, bf16_help="bf16 where the GPU supports it")
    add_run_arguments(parser, defaults)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; the exit status tells a queue whether to run it again (128+N after signal N)."""
    return head_cli(build_parser(), RegHeadRunConfig, train, argv)


if __name__ == "__main__":
    sys.exit(main())
