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
import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.tasks.four_class import LABELS, confusion_counts, confusion_scores
from pipeline.train.sft import (
    ADAPTER_DIRNAME,
    CHECKPOINTS_DIRNAME,
    DEFAULT_MODEL_NAME,
    RUN_CARD_NAME,
    STATUS_COMPLETED,
    STATUS_INTERRUPTED,
    LogCallback,
    MetricCallback,
    ProgressCallback,
    StopCheck,
    StopRequest,
    TrainResult,
    _last_logged,
    _write_json_atomically,
    code_commit,
    default_target_modules,
    describe_device,
    list_checkpoints,
    make_callbacks,
    parse_target_modules,
    resolve_model,
    resolve_precision,
    sha256_file,
    stop_on_signals,
)

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase, Trainer, TrainerCallback

HEAD_CARD_NAME = "cls_head.json"
# Eval scores forwarded to on_metric besides eval/loss (Trainer prefixes compute_metrics keys with "eval_").
_EVAL_SCORES = ("accuracy", "macro_f1", "false_allow_rate")


@dataclass
class ClsHeadRunConfig:
    """Everything that defines a classification-head run; stored verbatim in the run card."""

    train_file: str
    output_dir: str
    valid_file: str | None = None
    model_name: str = DEFAULT_MODEL_NAME
    num_epochs: float = 3.0
    max_steps: int = -1
    learning_rate: float = 2e-4
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_seq_length: int = 512
    warmup_ratio: float = 0.03
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | str | None = None
    focal_gamma: float = 0.0  # 0 is plain cross-entropy; 2 is the focal-loss paper's choice
    class_weights: bool = False  # weight each class by N / (classes * count) in the train file
    bf16: bool = False
    fp16: bool = False
    eval_steps: int = 50
    logging_steps: int = 10
    checkpoint_minutes: float = 5.0
    keep_checkpoints: int = 3
    seed: int = 42
    resume: bool = True
    model_cache_dir: str | None = None

    def __post_init__(self) -> None:
        if self.bf16 and self.fp16:
            raise ValueError("choose at most one of bf16 and fp16")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if self.focal_gamma < 0:
            raise ValueError(f"focal_gamma must be at least 0, got {self.focal_gamma}")
        for name in ("batch_size", "gradient_accumulation_steps", "max_seq_length", "lora_r", "eval_steps",
                     "logging_steps", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps <= 0 and self.num_epochs <= 0:
            raise ValueError("set num_epochs > 0 or max_steps > 0")
        if self.checkpoint_minutes <= 0:
            raise ValueError(f"checkpoint_minutes must be positive, got {self.checkpoint_minutes}")


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


def load_classifier(model_path: str, tokenizer: PreTrainedTokenizerBase, precision: str = "fp32") -> Any:
    """The decoder with a fresh ``len(LABELS)``-way head; ``pad_token_id`` set so it finds each row's last token."""
    import torch
    from transformers import AutoModelForSequenceClassification

    kwargs: dict[str, Any] = {"dtype": torch.bfloat16 if precision == "bf16" else torch.float32}
    if torch.cuda.is_available():
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    return AutoModelForSequenceClassification.from_pretrained(
        model_path,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: index for index, label in enumerate(LABELS)},
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


def _eval_score_reporter(on_metric: MetricCallback | None) -> TrainerCallback:
    from transformers import TrainerCallback

    class EvalScores(TrainerCallback):
        """Forward eval accuracy, macro-F1 and false-allow rate (sft's reporting forwards the losses)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            for key in _EVAL_SCORES:
                value = (logs or {}).get(f"eval_{key}")
                if on_metric and value is not None and value == value:  # NaN: undefined on this valid set
                    on_metric(f"eval/{key}", state.global_step, float(value))

    return EvalScores()


def build_trainer(config: ClsHeadRunConfig, callbacks: Sequence[TrainerCallback] = (),
                  model_path: str | None = None) -> Trainer:
    """The Trainer of a run: data tokenized, LoRA and the trainable head in place, not trained yet."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import DataCollatorWithPadding, PrinterCallback, TrainingArguments

    model_path = model_path or resolve_model(config.model_name, config.model_cache_dir)
    train_examples = read_labelled_jsonl(config.train_file)
    valid_examples = read_labelled_jsonl(config.valid_file) if config.valid_file else None
    precision = resolve_precision(config.bf16, config.fp16)
    tokenizer = load_tokenizer(model_path)

    def dataset(examples: list[tuple[str, int]]) -> Dataset:
        encoded = tokenize(tokenizer, [text for text, _ in examples], config.max_seq_length)
        return Dataset.from_dict({**encoded, "labels": [label for _, label in examples]})

    model = load_classifier(model_path, tokenizer, precision)
    model = get_peft_model(model, LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.target_modules or default_target_modules(model.config.model_type),
        modules_to_save=[head_module_name(model)],
    ))
    weights = inverse_frequency_weights([label for _, label in train_examples]) if config.class_weights else None
    args = TrainingArguments(
        output_dir=str(Path(config.output_dir) / CHECKPOINTS_DIRNAME),
        num_train_epochs=config.num_epochs,
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,  # transformers 5 reads a value below 1 as a ratio
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        logging_steps=config.logging_steps,
        eval_strategy="steps" if valid_examples else "no",
        eval_steps=config.eval_steps,
        save_strategy="no",  # sft's callbacks save on wall time and on stop requests
        save_total_limit=config.keep_checkpoints,
        seed=config.seed,
        data_seed=config.seed,
        label_names=["labels"],
        remove_unused_columns=False,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=True,
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=dataset(train_examples),
        eval_dataset=dataset(valid_examples) if valid_examples else None,
        processing_class=tokenizer,
        data_collator=DataCollatorWithPadding(tokenizer),
        compute_metrics=_eval_scores if valid_examples else None,
        callbacks=list(callbacks),
        focal_gamma=config.focal_gamma,
        class_weights=torch.tensor(weights) if weights is not None else None,
    )
    trainer.remove_callback(PrinterCallback)
    return trainer


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
    import torch

    started = time.monotonic()
    log = on_log or (lambda line: None)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    existing = list_checkpoints(output_dir)
    resume_from = existing[-1] if config.resume and existing else None
    if not config.resume and (output_dir / CHECKPOINTS_DIRNAME).exists():
        log(f"resume disabled: removing old checkpoints in {output_dir / CHECKPOINTS_DIRNAME}")
        shutil.rmtree(output_dir / CHECKPOINTS_DIRNAME)

    model_path = resolve_model(config.model_name, config.model_cache_dir)
    log(f"base model {config.model_name} -> {model_path}")
    stop = StopRequest(should_stop)
    callbacks = [*make_callbacks(stop, config.checkpoint_minutes, on_progress, on_metric, on_log),
                 _eval_score_reporter(on_metric)]
    trainer = build_trainer(config, callbacks=callbacks, model_path=model_path)
    weights = trainer.class_weights
    log(f"loss: focal gamma {config.focal_gamma}, class weights "
        + (", ".join(f"{label}={weight:.3g}" for label, weight in zip(LABELS, weights.tolist()))
           if weights is not None else "none"))
    precision = "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32"
    device = describe_device(precision, load_in_4bit=False)
    log(f"device {device.kind} ({device.name}), {precision}")
    if resume_from is not None:
        log(f"resuming from {resume_from.path} (step {resume_from.step})")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    with stop_on_signals(stop) if handle_signals else contextlib.nullcontext():
        output = trainer.train(resume_from_checkpoint=resume_from.path if resume_from else None)
    state = trainer.state
    status = STATUS_COMPLETED if state.global_step >= state.max_steps else stop.status
    if torch.cuda.is_available():
        device.peak_memory_bytes = int(torch.cuda.max_memory_allocated())

    adapter_dir = None
    if status == STATUS_COMPLETED:
        adapter_dir = output_dir / ADAPTER_DIRNAME
        trainer.save_model(str(adapter_dir))
        head = {"labels": list(LABELS), "max_seq_length": config.max_seq_length, "base_model": config.model_name}
        _write_json_atomically(adapter_dir / HEAD_CARD_NAME, head)
        log(f"adapter and head saved to {adapter_dir}")
    else:
        log(f"stopped ({status}) at step {state.global_step}/{state.max_steps}; checkpoint kept")

    runtime = float(output.metrics.get("train_runtime") or 0.0)
    first_step = resume_from.step if resume_from else 0
    first_tokens = resume_from.num_input_tokens_seen if resume_from else 0
    result = TrainResult(
        status=status,
        output_dir=str(output_dir),
        adapter_dir=str(adapter_dir) if adapter_dir else None,
        run_card_path=str(output_dir / RUN_CARD_NAME),
        steps_done=state.global_step,
        total_steps=state.max_steps,
        resumed_from_step=resume_from.step if resume_from else None,
        train_loss=_last_logged(state.log_history, "loss"),
        eval_loss=_last_logged(state.log_history, "eval_loss"),
        tokens_per_second=(state.num_input_tokens_seen - first_tokens) / runtime if runtime else 0.0,
        steps_per_second=(state.global_step - first_step) / runtime if runtime else 0.0,
        duration_seconds=time.monotonic() - started,
        device=device,
        checkpoints=[checkpoint.path for checkpoint in list_checkpoints(output_dir)],
        stop_signal=stop.signal_number if status == STATUS_INTERRUPTED else None,
    )
    _write_json_atomically(Path(result.run_card_path), _run_card(config, model_path, result, state.log_history))
    if on_progress:
        on_progress(state.global_step, state.max_steps)
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def _run_card(config: ClsHeadRunConfig, model_path: str, result: TrainResult,
              log_history: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's provenance, as sft's run card, plus the head's labels and the last eval scores."""
    import peft
    import torch
    import transformers

    datasets = {"train": {"path": config.train_file, "sha256": sha256_file(config.train_file)}}
    if config.valid_file:
        datasets["valid"] = {"path": config.valid_file, "sha256": sha256_file(config.valid_file)}
    return {
        "status": result.status,
        "trainer": "cls_head",
        "labels": list(LABELS),
        "base_model": config.model_name,
        "base_model_path": model_path,
        "datasets": datasets,
        "hyperparameters": asdict(config),
        "code_commit": code_commit(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
        "device": asdict(result.device),
        "duration_seconds": result.duration_seconds,
        "steps_done": result.steps_done,
        "total_steps": result.total_steps,
        "resumed_from_step": result.resumed_from_step,
        "final_train_loss": result.train_loss,
        "final_eval_loss": result.eval_loss,
        "final_eval_scores": {key: _last_logged(log_history, f"eval_{key}") for key in _EVAL_SCORES},
        "tokens_per_second": result.tokens_per_second,
        "adapter_dir": result.adapter_dir,
        "checkpoints": result.checkpoints,
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
    add = parser.add_argument
    add("--model-name", default=defaults.model_name,
        help="bundled alias (smollm2-135m-instruct), local directory, or hub id (default: %(default)s)")
    add("--train-file", required=True, help='JSONL, one {"text": ..., "answer": LABEL} a line ("label" works too)')
    add("--valid-file", help="same format, evaluated every --eval-steps (loss, accuracy, macro-F1, false-allow rate)")
    add("--output-dir", required=True, help="checkpoints/, adapter/ and run_card.json go here")
    add("--num-epochs", type=float, default=defaults.num_epochs)
    add("--max-steps", type=int, default=defaults.max_steps, help="stop after this many steps (overrides epochs)")
    add("--learning-rate", type=float, default=defaults.learning_rate)
    add("--batch-size", type=int, default=defaults.batch_size, help="per-device batch size")
    add("--gradient-accumulation-steps", type=int, default=defaults.gradient_accumulation_steps)
    add("--max-seq-length", type=int, default=defaults.max_seq_length, help="tokens; longer messages are truncated")
    add("--warmup-ratio", type=float, default=defaults.warmup_ratio)
    add("--lora-r", type=int, default=defaults.lora_r)
    add("--lora-alpha", type=int, default=defaults.lora_alpha)
    add("--lora-dropout", type=float, default=defaults.lora_dropout)
    add("--target-modules", help="comma-separated module names, a regex, or all-linear (default: per architecture)")
    add("--focal-gamma", type=float, default=defaults.focal_gamma,
        help="focal loss exponent; 0 (default) is plain cross-entropy")
    add("--class-weights", action=argparse.BooleanOptionalAction, default=defaults.class_weights,
        help="weight classes by inverse frequency in the train file")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--bf16", action="store_true", help="bf16 where the GPU supports it")
    precision.add_argument("--fp16", action="store_true", help="fp16 mixed precision on a GPU")
    add("--eval-steps", type=int, default=defaults.eval_steps)
    add("--logging-steps", type=int, default=defaults.logging_steps)
    add("--checkpoint-minutes", type=float, default=defaults.checkpoint_minutes)
    add("--keep-checkpoints", type=int, default=defaults.keep_checkpoints)
    add("--seed", type=int, default=defaults.seed)
    add("--resume", action=argparse.BooleanOptionalAction, default=defaults.resume,
        help="continue from the newest checkpoint in --output-dir (default); --no-resume starts over")
    add("--model-cache-dir", help="where bundled models are converted (default: $FTLOOP_MODEL_CACHE or "
                                  "~/.cache/ftloop/models)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; the exit status tells a queue whether to run it again (128+N after signal N)."""
    parser = build_parser()
    try:
        values = vars(parser.parse_args(argv))
        values["target_modules"] = parse_target_modules(values["target_modules"])
        config = ClsHeadRunConfig(**values)
    except ValueError as error:
        parser.error(str(error))

    def print_line(line: str) -> None:
        print(line, flush=True)

    try:
        result = train(config, on_log=print_line)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_line(f"{result.status}: step {result.steps_done}/{result.total_steps}, run card {result.run_card_path}")
    if result.stop_signal is not None:
        return 128 + result.stop_signal
    return 0 if result.status == STATUS_COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
