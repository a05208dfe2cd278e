"""A classification head for a task with labels: LoRA on a decoder plus a linear head, one forward pass per text.

Beside SFT (which teaches the model to write the label), this trains
``AutoModelForSequenceClassification``: the decoder reads the text and a
linear ``score`` head maps its last token to the task's ``head_labels``
(four_class's four). No generation, so a prediction costs one forward pass,
and the loss can say what SFT's cannot: focal loss (``focal_gamma`` > 0)
spends the gradient on the texts the model still gets wrong, and
inverse-frequency class weights keep a rare label (four_class's ESCALATION,
in real traffic) from being drowned out.

The head is new, so it trains in full (``modules_to_save``) and is stored in
the adapter beside the LoRA weights; ``cls_head.json`` in the adapter
directory names the task and the labels in head order for
``pipeline.infer.cls_head``. The eval scores are the task's own metrics
(``task.metrics``) of the valid set.

Input: the task's split files, one row a line with its text (``task.text_key``)
and its label (``task.answer_key``; ``"label"`` works too). Checkpoints, resume, stop requests, signals and
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.tasks.registry import Task, get_task, task_names
from pipeline.train.sft import (
    STATUS_COMPLETED,
    ConfigT,
    LogCallback,
    LoRARunConfig,
    MetricCallback,
    ProgressCallback,
    StopCheck,
    TrainResult,
    base_run_card,
    config_from_args,
    config_parser,
    default_target_modules,
    last_logged,
    resolve_model,
    resolve_precision,
    run_training,
    training_arguments,
    weight_dtype,
    write_json_atomically,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, Trainer, TrainerCallback

HEAD_CARD_NAME = "cls_head.json"
TRAINER = "cls_head"


def head_task(name: str | None, trainer: str) -> Task:
    """The task a head run trains for: the one named, else the first registered task offering the trainer."""
    if name:
        task = get_task(name)
        if trainer not in task.trainers:
            raise ValueError(f"{task.name} does not train a {trainer} (its trainers: {', '.join(task.trainers)})")
        return task
    for candidate in task_names():
        task = get_task(candidate)
        if trainer in task.trainers and task.head_labels:
            return task
    raise ValueError(f"no registered task trains a {trainer}")


def task_for_head(labels: Sequence[str]) -> Task:
    """The registered task whose head outputs are ``labels`` (for head cards written before cards named the task)."""
    for candidate in task_names():
        task = get_task(candidate)
        if tuple(task.head_labels) == tuple(labels):
            return task
    raise ValueError(f"no registered task has the head labels {', '.join(labels)}")


@dataclass
class ClsHeadRunConfig(LoRARunConfig):
    """Everything that defines a classification-head run (sft's LoRA settings plus the loss); stored in the run card."""

    focal_gamma: float = field(default=0.0, metadata={
        "help": "focal loss exponent; 0 is plain cross-entropy, 2 the focal-loss paper's choice"})
    class_weights: bool = field(default=False, metadata={
        "help": "weight each class by N / (classes * count) in the train file"})
    task: str | None = field(default=None, metadata={
        "help": "the task type whose labels the head learns (default: the first registered one with a cls_head)"})

    def __post_init__(self) -> None:
        if self.focal_gamma < 0:
            raise ValueError(f"focal_gamma must be at least 0, got {self.focal_gamma}")
        super().__post_init__()


def read_labelled_jsonl(path: str | os.PathLike[str], task: Task | None = None) -> list[tuple[str, int]]:
    """(text, label index) pairs of a task's split file; a ValueError names the file, line and problem."""
    task = task or head_task(None, TRAINER)
    labels = list(task.head_labels)
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
            if not isinstance(obj, dict) or not isinstance(obj.get(task.text_key), str):
                raise ValueError(f'{where}: expected an object with a string "{task.text_key}"')
            label = obj.get(task.answer_key, obj.get("label"))
            if label not in labels:
                raise ValueError(f'{where}: "{task.answer_key}" must be one of {", ".join(labels)}, got {label!r}')
            examples.append((obj[task.text_key], labels.index(label)))
    if not examples:
        raise ValueError(f"{path}: no examples")
    return examples


def inverse_frequency_weights(label_indices: Sequence[int], classes: int) -> list[float]:
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


def load_classifier(model_path: str, tokenizer: PreTrainedTokenizerBase, precision: str,
                    labels: Sequence[str], regression: bool = False) -> Any:
    """The decoder with a fresh ``len(labels)``-way head; ``pad_token_id`` set so it finds each row's last token.

    ``regression`` makes it a ``len(labels)``-output regression head (MSE loss; ``pipeline.train.reg_head``).
    """
    import torch
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"dtype": weight_dtype(precision)}
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


def eval_score_keys(task: Task) -> tuple[str, ...]:
    """The task's metrics a head run reports on its valid set (forwarded to on_metric as eval/<key>)."""
    return tuple(task.higher_is_better)


def task_scores(task: Task, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, float]:
    """The task's own metrics of answers against gold answers, as the eval runner scores them
    (``task.score_row`` of each formatted answer, then ``task.metrics``); metrics without a value are left out."""
    rows = []
    for gold_answer, answer in zip(gold, predicted):
        example = {task.text_key: "", task.answer_key: gold_answer}
        rows.append({**example, **task.score_row(example, task.format_answer(answer))})
    metrics = task.metrics(rows)
    return {key: float(metrics[key]) for key in eval_score_keys(task) if metrics.get(key) is not None}


def classification_scores(task: Task) -> Callable[[Any], dict[str, float]]:
    """The Trainer's compute_metrics: the task's metrics of the valid set's argmax labels."""

    def compute(prediction: Any) -> dict[str, float]:
        import numpy as np

        labels = task.head_labels
        predicted = np.asarray(prediction.predictions).argmax(axis=-1)
        return task_scores(task, [labels[index] for index in prediction.label_ids],
                           [labels[index] for index in predicted])

    return compute


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

    task = head_task(config.task, TRAINER)
    model_path, precision, tokenizer, train_data, valid_data = head_inputs(
        config, model_path, functools.partial(read_labelled_jsonl, task=task), lambda label: label)
    labels = task.head_labels
    weights = inverse_frequency_weights(train_data["labels"], len(labels)) if config.class_weights else None
    return head_trainer(
        config, load_classifier(model_path, tokenizer, precision, labels), tokenizer, precision, train_data,
        valid_data, trainer_class=_trainer_class(), compute_metrics=classification_scores(task), callbacks=callbacks,
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
    task = head_task(config.task, TRAINER)

    def build(callbacks: list[TrainerCallback], model_path: str) -> Trainer:
        trainer = build_trainer(config, callbacks=callbacks, model_path=model_path)
        weights = trainer.class_weights
        log(f"{task.name} head, loss: focal gamma {config.focal_gamma}, class weights "
            + (", ".join(f"{label}={weight:.3g}" for label, weight in zip(task.head_labels, weights.tolist()))
               if weights is not None else "none"))
        return trainer

    return run_head_training(config, build, functools.partial(_run_card, config, task), "classification", task,
                             on_progress=on_progress, on_metric=on_metric, on_log=on_log,
                             should_stop=should_stop, handle_signals=handle_signals)


def run_head_training(config: LoRARunConfig, build: Callable[..., Trainer], run_card: Callable[..., dict[str, Any]],
                      kind: str, task: Task, *,
                      on_progress: ProgressCallback | None, on_metric: MetricCallback | None,
                      on_log: LogCallback | None, should_stop: StopCheck | None, handle_signals: bool) -> TrainResult:
    """sft's run around a head trainer: the task's eval scores reported, and the adapter saved with its head card
    (``kind``, the task, its ``head_labels`` in head order) for ``pipeline.infer.cls_head``."""
    log = on_log or (lambda line: None)
    scores = eval_score_keys(task)

    def save_adapter(trainer: Trainer, adapter_dir: Path) -> None:
        trainer.save_model(str(adapter_dir))
        head = {"kind": kind, "task": task.name, "labels": list(task.head_labels),
                "max_seq_length": config.max_seq_length, "base_model": config.model_name}
        write_json_atomically(adapter_dir / HEAD_CARD_NAME, head)
        log(f"adapter and head saved to {adapter_dir}")

    return run_training(config, build, run_card, on_progress=on_progress, on_metric=on_metric, on_log=on_log,
                        should_stop=should_stop, handle_signals=handle_signals,
                        extra_callbacks=[eval_score_reporter(on_metric, scores)], save_adapter=save_adapter)


def _run_card(config: ClsHeadRunConfig, task: Task, model_path: str, result: TrainResult,
              log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's provenance, as sft's run card, plus the task, the head's labels and the last eval scores."""
    return head_run_card(config, model_path, result, log_history, TRAINER, eval_score_keys(task), task=task.name,
                         labels=list(task.head_labels))


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
        # Scores the valid set leaves undefined (e.g. latency, measured on a served model) were never logged.
        "final_eval_scores": {key: value for key in scores
                              if (value := last_logged(log_history, f"eval_{key}")) is not None},
    }


def build_parser() -> argparse.ArgumentParser:
    """ClsHeadRunConfig's flags (named as in ``pipeline.train.sft`` where they mean the same)."""
    return config_parser(
        ClsHeadRunConfig,
        prog="python -m pipeline.train.cls_head",
        description="LoRA classification head (a task's labels, e.g. four_class's ALLOW/ESCALATION/DENY/REFUSE) on a "
        "decoder, optionally with focal loss and inverse-frequency class weights. Checkpoints every "
        "--checkpoint-minutes and on SIGTERM/SIGINT; run again with the same --output-dir to resume. Exit status: "
        "0 done, 128+N stopped by signal N.",
        helps={"train_file": "the task's split file (JSONL, one row a line with its text and label)",
               "valid_file": "same format, evaluated every --eval-steps (loss and the task's metrics)",
               "target_modules": "comma-separated module names, a regex, or all-linear (default: per architecture)"},
    )


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
