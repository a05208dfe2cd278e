"""A classification head for four_class: LoRA on a decoder plus a 4-way linear head, one forward pass per message.

Beside SFT (which teaches the model to write the label), this trains
``AutoModelForSequenceClassification``: the decoder reads the message and a
linear ``score`` head maps its last token to the four labels. No generation,
so a prediction costs one forward pass, and the loss can say what SFT's
cannot: focal loss (``focal_gamma`` > 0) spends the gradient on the messages
the model still gets wrong, and inverse-frequency class weights keep a rare
label (ESCALATION, in real traffic) from being drowned out.

The head is new, so it trains in full (``modules_to_save``) and is stored in
the adapter beside the LoRA weights; ``cls_head.json`` in the adapter
directory names the labels in head order for ``pipeline.infer.cls_head``.

Input: JSONL rows ``{"text": ..., "answer": LABEL}`` (the four_class split
files; ``"label"`` works too). Checkpoints, resume, stop requests, signals and
the callbacks (on_progress, on_metric, on_log, should_stop) are those of
``pipeline.train.sft``, and the result is its ``TrainResult``.

CLI: ``python -m pipeline.train.cls_head --help``. Python: ``train(ClsHeadRunConfig(...))``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.tasks.four_class import LABELS, confusion_counts, confusion_scores
from pipeline.train.sft import (
    STATUS_COMPLETED,
    ConfigT,
    LogCallback,
    LoRARunConfig,
    MetricCallback,
    ProgressCallback,
    StopCheck,
    TrainResult,
    add_model_and_data_arguments,
    add_precision_arguments,
    add_run_arguments,
    base_run_card,
    config_from_args,
    default_target_modules,
    last_logged,
    resolve_model,
    resolve_precision,
    run_training,
    training_arguments,
    write_json_atomically,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, Trainer, TrainerCallback

HEAD_CARD_NAME = "cls_head.json"
# Eval scores forwarded to on_metric besides eval/loss (Trainer prefixes compute_metrics keys with "eval_").
_EVAL_SCORES = ("accuracy", "macro_f1", "false_allow_rate")


@dataclass
class ClsHeadRunConfig(LoRARunConfig):
    """Everything that defines a classification-head run (sft's LoRA settings plus the loss); stored in the run card."""

    focal_gamma: float = 0.0  # 0 is plain cross-entropy; 2 is the focal-loss paper's choice
    class_weights: bool = False  # weight each class by N / (classes * count) in the train file

    def __post_init__(self) -> None:
        if self.focal_gamma < 0:
            raise ValueError(f"focal_gamma must be at least 0, got {self.focal_gamma}")
        super().__post_init__()


def read_labelled_jsonl(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """(text, label index) pairs; a ValueError names the file, line and problem."""
    examples = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise ValueError(f'{where}: expected an object with a string "text"')
            label = obj.get("answer", obj.get("label"))
            if label not in LABELS:
                raise ValueError(f'{where}: "answer" must be one of {", ".join(LABELS)}, got {label!r}')
            examples.append((obj["text"], LABELS.index(label)))
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def inverse_frequency_weights(label_indices: Sequence[int], classes: int = len(LABELS)) -> list[float]:
    """N / (classes * count) per class (1 everywhere when balanced); 0 for a class the data lacks."""
    counts = [0] * classes
    for index in label_indices:
        counts[index] += 1
    total = len(label_indices)
    return [total / (classes * count) if count else 0.0 for count in counts]


def focal_loss(logits: torch.Tensor, targets: torch.Tensor, gamma: float = 0.0,
               class_weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of -(1 - p_t)^gamma * log p_t, weighted per target class when weights are given.

    The weighted mean divides by the sum of the weights, as ``F.cross_entropy``
    does, so gamma 0 is exactly cross-entropy (weighted or not).
    """
    import torch.nn.functional as F

    log_pt = F.log_softmax(logits.float(), dim=-1).gather(1, targets[:, None]).squeeze(1)
    losses = -((1 - log_pt.exp()) ** gamma) * log_pt
    if class_weights is None:
        return losses.mean()
    weights = class_weights.to(losses.device, losses.dtype)[targets]
    return (weights * losses).sum() / weights.sum()


def tokenize(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], max_seq_length: int) -> dict[str, list]:
    """Token ids of raw messages, as training and ``pipeline.infer.cls_head`` both encode them."""
    return tokenizer(list(texts), truncation=True, max_length=max_seq_length)


def load_tokenizer(path: str) -> PreTrainedTokenizerBase:
    """The model's tokenizer, with the end-of-text token as padding where the model has no pad token."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_classifier(model_path: str, tokenizer: PreTrainedTokenizerBase, precision: str = "fp32",
                    labels: Sequence[str] = LABELS, regression: bool = False) -> Any:
    """The decoder with a fresh ``len(labels)``-way head; ``pad_token_id`` set so it finds each row's last token.

    ``regression`` makes it a ``len(labels)``-output regression head (MSE loss; ``pipeline.train.reg_head``).
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if precision == "bf16" else torch.float32}
    if torch.cuda.is_available():
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if regression:
        kwargs["problem_type"] = "regression"
    return AutoModelForSequenceClassification.from_pretrained(
        model_path,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={label: index for index, label in enumerate(labels)},
        pad_token_id=tokenizer.pad_token_id,
        **kwargs,
    )


def head_module_name(model: Any) -> str:
    """The attribute that holds the classification head (``score`` in decoders, ``classifier`` in encoders)."""
    for name in ("score", "classifier"):
        if hasattr(model, name):
            return name
    raise ValueError(f"{type(model).__name__} has no score/classifier head to train")


def _trainer_class() -> type[Trainer]:
    from transformers import Trainer

    class FocalLossTrainer(Trainer):
        """A Trainer whose loss is ``focal_loss`` with the run's gamma and class weights."""

        loss_is_scaled_for_ga = False  # a per-batch mean: the Trainer divides it by the accumulation steps

        def __init__(self, *args: Any, focal_gamma: float = 0.0, class_weights: torch.Tensor | None = None,
                     **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.focal_gamma = focal_gamma
            self.class_weights = class_weights

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs = dict(inputs)
            targets = inputs.pop("labels")
            outputs = model(**inputs)
            loss = focal_loss(outputs.logits, targets, self.focal_gamma, self.class_weights)
            return (loss, outputs) if return_outputs else loss

    return FocalLossTrainer


def _eval_scores(prediction: Any) -> dict[str, float]:
    """accuracy, macro-F1 and false-allow rate of the valid set, by four_class's definitions."""
    import numpy as np

    predicted = np.asarray(prediction.predictions).argmax(axis=-1)
    scores = confusion_scores(confusion_counts([LABELS[index] for index in prediction.label_ids],
                                               [LABELS[index] for index in predicted]))
    return {key: float(scores[key]) for key in _EVAL_SCORES}


def eval_score_reporter(on_metric: MetricCallback | None, keys: Sequence[str]) -> TrainerCallback:
    """Forward the eval scores ``keys`` (sft's reporting forwards the losses) as ``eval/<key>``."""
    from transformers import TrainerCallback

    class EvalScores(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            for key in keys:
                value = (logs or {}).get(f"eval_{key}")
                if on_metric and value is not None and value == value:  # NaN: undefined on this valid set
                    on_metric(f"eval/{key}", state.global_step, float(value))

    return EvalScores()


def head_trainer(config: LoRARunConfig, model: Any, tokenizer: PreTrainedTokenizerBase, precision: str,
                 train_data: dict[str, list], valid_data: dict[str, list] | None,
                 trainer_class: type[Trainer] | None = None, compute_metrics: Any = None,
                 callbacks: Sequence[TrainerCallback] = (), **trainer_kwargs: Any) -> Trainer:
    """The Trainer of a head run: LoRA on the decoder, the head trained in full (saved in the adapter), the run's
    TrainingArguments, padded batches of the tokenized ``train_data`` / ``valid_data`` (columns incl. labels)."""
    from datasets import Dataset
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments

    model = get_peft_model(model, LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules or default_target_modules(model.config.model_type),
        modules_to_save=[head_module_name(model)],
    ))
    args = TrainingArguments(
        **training_arguments(config, precision, has_eval=bool(valid_data)),
        label_names=["labels"],
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
    )
    trainer = (trainer_class or Trainer)(
        model=model,
        args=args,
        train_dataset=Dataset.from_dict(train_data),
        eval_dataset=Dataset.from_dict(valid_data) if valid_data else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=compute_metrics if valid_data else None,
        callbacks=list(callbacks),
        **trainer_kwargs,
    )
    trainer.remove_callback(PrinterCallback)
    return trainer


def build_trainer(config: ClsHeadRunConfig, callbacks: Sequence[TrainerCallback] = (),
                  model_path: str | None = None) -> Trainer:
    """The Trainer of a run: data tokenized, LoRA and the trainable head in place, not trained yet."""
    import torch

    model_path, precision, tokenizer, train_data, valid_data = head_inputs(
        config, model_path, read_labelled_jsonl, lambda label: label)
    weights = inverse_frequency_weights(train_data["labels"]) if config.class_weights else None
    return head_trainer(
        config, load_classifier(model_path, tokenizer, precision), tokenizer, precision, train_data, valid_data,
        trainer_class=_trainer_class(), compute_metrics=_eval_scores, callbacks=callbacks,
        focal_gamma=config.focal_gamma,
        class_weights=torch.tensor(weights) if weights is not None else None,
    )


def head_inputs(config: LoRARunConfig, model_path: str | None,
                read: Callable[[str], list[tuple[str, Any]]], to_label: Callable[[Any], Any],
                ) -> tuple[str, str, PreTrainedTokenizerBase, dict[str, list], dict[str, list] | None]:
    """(model path, precision, tokenizer, train data, valid data or None) of a head run: the train and valid
    files read with ``read`` into (text, target) pairs, the texts tokenized, each target made a label."""
    model_path = model_path or resolve_model(config.model_name, config.model_cache_dir)
    tokenizer = load_tokenizer(model_path)

    def data(path: str) -> dict[str, list]:
        examples = read(path)
        encoded = tokenize(tokenizer, [text for text, _ in examples], config.max_seq_length)
        return {**encoded, "labels": [to_label(target) for _, target in examples]}

    valid = data(config.valid_file) if config.valid_file else None
    return model_path, resolve_precision(config.bf16, config.fp16), tokenizer, data(config.train_file), valid


def train(
    config: ClsHeadRunConfig,
    on_progress: ProgressCallback | None = None,
    on_metric: MetricCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    handle_signals: bool = True,
) -> TrainResult:
    """Train (or resume) a LoRA classification head; stops cleanly, with a checkpoint, when asked to.

    The same contract as ``pipeline.train.sft.train``: ``should_stop`` is polled
    after every optimizer step, SIGTERM/SIGINT make the status ``interrupted``,
    and a run with the same output directory resumes from its newest checkpoint.
    """
    log = on_log or (lambda line: None)

    def build(callbacks: list[TrainerCallback], model_path: str) -> Trainer:
        trainer = build_trainer(config, callbacks=callbacks, model_path=model_path)
        weights = trainer.class_weights
        log(f"loss: focal gamma {config.focal_gamma}, class weights "
            + (", ".join(f"{label}={weight:.3g}" for label, weight in zip(LABELS, weights.tolist()))
               if weights is not None else "none"))
        return trainer

    return run_head_training(config, build, functools.partial(_run_card, config), "classification", LABELS,
                             _EVAL_SCORES, on_progress=on_progress, on_metric=on_metric, on_log=on_log,
                             should_stop=should_stop, handle_signals=handle_signals)


def run_head_training(config: LoRARunConfig, build: Callable[..., Trainer], run_card: Callable[..., dict[str, Any]],
                      kind: str, labels: Sequence[str], scores: Sequence[str], *,
                      on_progress: ProgressCallback | None, on_metric: MetricCallback | None,
                      on_log: LogCallback | None, should_stop: StopCheck | None, handle_signals: bool) -> TrainResult:
    """sft's run around a head trainer: the eval ``scores`` reported, and the adapter saved with its head card
    (``kind``, ``labels`` in head order) for ``pipeline.infer.cls_head``."""
    log = on_log or (lambda line: None)

    def save_adapter(trainer: Trainer, adapter_dir: Path) -> None:
        trainer.save_model(str(adapter_dir))
        head = {"kind": kind, "labels": list(labels), "max_seq_length": config.max_seq_length,
                "base_model": config.model_name}
        write_json_atomically(adapter_dir / HEAD_CARD_NAME, head)
        log(f"adapter and head saved to {adapter_dir}")

    return run_training(config, build, run_card, on_progress=on_progress, on_metric=on_metric, on_log=on_log,
                        should_stop=should_stop, handle_signals=handle_signals,
                        extra_callbacks=[eval_score_reporter(on_metric, scores)], save_adapter=save_adapter)


def _run_card(config: ClsHeadRunConfig, model_path: str, result: TrainResult,
              log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's provenance, as sft's run card, plus the head's labels and the last eval scores."""
    return head_run_card(config, model_path, result, log_history, "cls_head", _EVAL_SCORES, labels=list(LABELS))


def head_run_card(config: LoRARunConfig, model_path: str, result: TrainResult, log_history: list[dict[str, Any]],
                  trainer: str, scores: Sequence[str], **extra: Any) -> dict[str, Any]:
    """A head run's card: sft's provenance, the trainer's name, ``extra`` and the last logged eval ``scores``."""
    import peft
    import torch
    import transformers

    versions = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    return {
        **base_run_card(config, model_path, result, versions),
        "trainer": trainer,
        **extra,
        "final_eval_scores": {key: last_logged(log_history, f"eval_{key}") for key in scores},
    }


def build_parser() -> argparse.ArgumentParser:
    """Flags named as in ``pipeline.train.sft`` where they mean the same; defaults from ClsHeadRunConfig."""
    defaults = ClsHeadRunConfig(train_file="", output_dir="")
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.train.cls_head",
        description="LoRA classification head (ALLOW/ESCALATION/DENY/REFUSE) on a decoder, optionally with focal "
        "loss and inverse-frequency class weights. Checkpoints every --checkpoint-minutes and on SIGTERM/SIGINT; "
        "run again with the same --output-dir to resume. Exit status: 0 done, 128+N stopped by signal N.",
    )
    add_model_and_data_arguments(
        parser, defaults,
        train_file_help='JSONL, one {"text": ..., "answer": LABEL} a line ("label" works too)',
        valid_file_help="same format, evaluated every --eval-steps (loss, accuracy, macro-F1, false-allow rate)",
        max_seq_length_help="tokens; longer messages are truncated",
        target_modules_help="comma-separated module names, a regex, or all-linear (default: per architecture)",
    )
    add = parser.add_argument
    add("--focal-gamma", type=float, default=defaults.focal_gamma,
        help="focal loss exponent; 0 (default) is plain cross-entropy")
    add("--class-weights", action=argparse.BooleanOptionalAction, default=defaults.class_weights,
        help="weight classes by inverse frequency in the train file")
    add_precision_arguments(parser, bf16_help="bf16 where the GPU supports it")
    add_run_arguments(parser, defaults)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; the exit status tells a queue whether to run it again (128+N after signal N)."""
    return head_cli(build_parser(), ClsHeadRunConfig, train, argv)


def head_cli(parser: argparse.ArgumentParser, config_class: type[ConfigT], train_function: Callable[..., TrainResult],
             argv: Sequence[str] | None) -> int:
    """Parse, train with progress printed, and exit 0 done, 1 cancelled, 2 bad input, 128+N after signal N."""
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args, config_class)
    except ValueError as error:
        parser.error(str(error))

    def print_line(line: str) -> None:
        print(line, flush=True)

    try:
        result = train_function(config, on_log=print_line)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_line(f"{result.status}: step {result.steps_done}/{result.total_steps}, run card {result.run_card_path}")
    if result.stop_signal is not None:
        return 128 + result.stop_signal
    return 0 if result.status == STATUS_COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
