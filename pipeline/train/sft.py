# /// script
# requires-python = ">=3.11"
# dependencies = [
#     "torch==2.13.0",
#     "transformers==5.23.0",
#     "peft==0.21.2",
#     "trl==1.16.0",
#     "datasets==5.2.0",
#     "accelerate==1.15.0",
#     "bitsandbytes==0.50.2",
#     "safetensors==0.8.0",
#     "huggingface_hub==2.4.0",
# ]
# ///
"""LoRA / QLoRA supervised fine-tuning on chat JSONL, with checkpoints that survive a dying worker.

One file on purpose: Hugging Face Jobs runs this very script with ``uv run``
(the PEP 723 block above), so it imports only third-party packages. Inside
the project it also resolves the bundled base model (``base_models``).

Input: one JSON object a line, ``{"messages": [system, user, assistant]}`` (what
a task's ``chat_messages`` builds, e.g. ``pipeline.data.export.chat_record``). Each example becomes a
prompt/completion pair, so TRL masks the loss to the completion (the
assistant's answer and its end-of-turn token) for any chat template, including
those without ``{% generation %}`` markers such as SmolLM2's.

Checkpoints land in ``<output-dir>/checkpoints`` every few minutes, at the last
step, and when a stop is requested (SIGTERM/SIGINT or ``should_stop``). Running
again with the same output directory resumes from the newest complete one; a
finished run writes ``<output-dir>/adapter`` and ``<output-dir>/run_card.json``.

On Hugging Face Jobs (``pipeline.train.hf_jobs``) the data comes from a Hub
dataset repo (``--hub-dataset``) and the adapter goes to a Hub model repo
(``--push-to-hub``), both with the token the job gets as its ``HF_TOKEN`` secret.

CLI: ``python -m pipeline.train.sft --help``. Python: ``train(SFTRunConfig(...))``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, Trainer, TrainerCallback
    from trl import SFTTrainer

# base_models.DEFAULT_BASE_MODEL, spelled out because this file also runs alone (uv run).
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"


TRAIN_MODES = ("sft", "direct", "cot", "auto")
STATUS_COMPLETED, STATUS_CANCELLED, STATUS_INTERRUPTED = "completed", "cancelled", "interrupted"

ADAPTER_DIRNAME = "adapter"
CHECKPOINTS_DIRNAME = "checkpoints"
RUN_CARD_NAME = "run_card.json"
HUB_DATA_DIRNAME = "hub-data"

# The attention and MLP projections of Llama-style decoders (SmolLM2 is a Llama).
_DECODER_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
_DECODER_MODEL_TYPES = {"llama", "mistral", "ministral", "ministral3", "qwen2", "qwen3", "smollm3"}
# Ministral 3 is a vision-language checkpoint: adapt only the language model (DESIGN §5).
_LANGUAGE_MODEL_PROJECTIONS = r".*language_model.*\.(q|k|v|o|gate|up|down)_proj"
_VISION_LANGUAGE_MODEL_TYPES = {"mistral3"}

ProgressCallback = Callable[[int, int], None]
MetricCallback = Callable[[str, int, float], None]
LogCallback = Callable[[str], None]
StopCheck = Callable[[], bool]
ConfigT = TypeVar("ConfigT", bound="LoRARunConfig")


@dataclass
class LoRARunConfig:
    """What every LoRA trainer's run is defined by (this module's SFTRunConfig, cls_head's ClsHeadRunConfig).

    Stored verbatim in the run card; paths are strings so the config
    round-trips through JSON (task params, run card).
    """

    train_file: str = field(metadata={"help": "training split (JSONL)"})
    output_dir: str = field(metadata={"help": "checkpoints/, adapter/ and run_card.json go here"})
    valid_file: str | None = field(default=None, metadata={"help": "validation split, evaluated every --eval-steps"})
    model_name: str = field(default=DEFAULT_MODEL_NAME, metadata={
        "help": "bundled alias (smollm2-135m-instruct), local directory, or hub id"})
    num_epochs: float = 3.0
    max_steps: int = field(default=-1, metadata={"help": "stop after this many steps (overrides epochs)"})
    learning_rate: float = 2e-4
    batch_size: int = field(default=8, metadata={"help": "per-device batch size"})
    gradient_accumulation_steps: int = 1
    max_seq_length: int = field(default=512, metadata={"help": "tokens; longer examples are truncated"})
    warmup_ratio: float = 0.03
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    target_modules: list[str] | str | None = field(default=None, metadata={
        "help": "comma-separated module names, a regex, or all-linear (default: per architecture; "
                "Ministral 3: language-model projections only)"})
    bf16: bool = field(default=False, metadata={
        "help": "bf16 mixed precision where the device supports it: a GPU with bf16, or a CPU with AVX512-BF16 or "
                "AMX (autocast, fp32 master weights); fp32 elsewhere"})
    fp16: bool = field(default=False, metadata={"help": "fp16 mixed precision on a GPU (at most one of the two)"})
    group_by_length: bool = field(default=True, metadata={
        "help": "batches of rows of similar length, so little compute goes to padding (ignored with packing)"})
    eval_steps: int = 50
    logging_steps: int = 10
    checkpoint_minutes: float = 5.0
    keep_checkpoints: int = 3
    seed: int = 42
    resume: bool = field(default=True, metadata={
        "help": "continue from the newest checkpoint in --output-dir; --no-resume starts over"})
    model_cache_dir: str | None = field(default=None, metadata={
        "help": "where bundled models are converted (default: $FTLOOP_MODEL_CACHE or ~/.cache/ftloop/models)"})

    def __post_init__(self) -> None:
        if self.bf16 and self.fp16:
            raise ValueError("choose at most one of bf16 and fp16")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        for name in ("batch_size", "gradient_accumulation_steps", "max_seq_length", "lora_r", "eval_steps",
                     "logging_steps", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_steps <= 0 and self.num_epochs <= 0:
            raise ValueError("set num_epochs > 0 or max_steps > 0")
        if self.checkpoint_minutes <= 0:
            raise ValueError(f"checkpoint_minutes must be positive, got {self.checkpoint_minutes}")


@dataclass
class SFTRunConfig(LoRARunConfig):
    """Everything that defines an SFT run: the shared LoRA settings plus QLoRA, packing and the train mode."""

    load_in_4bit: bool = field(default=False, metadata={"help": "QLoRA: 4-bit NF4 base model through bitsandbytes"})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "trade compute for memory (large models)"})
    packing: bool = field(default=False, metadata={
        "help": "pack examples padding-free (BFD) instead of padding batches"})
    train_mode: str = field(default="sft", metadata={
        "choices": TRAIN_MODES,
        "help": "sft: chat examples as given; direct|cot|auto: multiple_choice data (not supported yet)"})

    def __post_init__(self) -> None:
        if self.train_mode not in TRAIN_MODES:
            raise ValueError(f"train_mode must be one of {', '.join(TRAIN_MODES)}, got {self.train_mode!r}")
        super().__post_init__()


@dataclass
class DeviceInfo:
    """Where a run trained, as the run page and the closing notes report it."""

    kind: str
    name: str
    precision: str
    load_in_4bit: bool
    peak_memory_bytes: int | None = None


@dataclass
class TrainResult:
    """What a run did. ``adapter_dir`` is set only when it completed; otherwise the checkpoints carry it."""

    status: str
    output_dir: str
    adapter_dir: str | None
    run_card_path: str
    steps_done: int
    total_steps: int
    resumed_from_step: int | None
    train_loss: float | None
    eval_loss: float | None
    tokens_per_second: float
    steps_per_second: float
    duration_seconds: float
    device: DeviceInfo
    checkpoints: list[str] = field(default_factory=list)
    stop_signal: int | None = None


def default_target_modules(model_type: str) -> list[str] | str:
    """LoRA targets for an architecture (``config.model_type``); ``all-linear`` for unknown ones."""
    if model_type in _VISION_LANGUAGE_MODEL_TYPES:
        return _LANGUAGE_MODEL_PROJECTIONS
    if model_type in _DECODER_MODEL_TYPES:
        return list(_DECODER_PROJECTIONS)
    return "all-linear"


def parse_target_modules(value: str | None) -> list[str] | str | None:
    """CLI spelling -> peft's: a regex stays one string, ``all-linear`` too, else a comma-separated list."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value == "all-linear" or any(char in value for char in "*()|\\[]$^"):
        return value
    return [name.strip() for name in value.split(",") if name.strip()]


def read_chat_jsonl(path: str | os.PathLike[str]) -> list[dict[str, list[dict[str, str]]]]:
    """Prompt/completion records from chat JSONL; a ValueError names the file, line and problem.

    A ``{"messages": [...]}`` line ends with the assistant's answer: it becomes
    the completion, the messages before it the prompt. Lines already in TRL's
    conversational ``{"prompt": [...], "completion": [...]}`` form are taken as they are.
    """
    records = []
    with open(path, encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                records.append(_prompt_completion(line, f"{path}:{number}"))
    if not records:
        raise ValueError(f"{path}: no examples")
    return records


def _prompt_completion(line: str, where: str) -> dict[str, list[dict[str, str]]]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"{where}: not valid JSON ({error.msg})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: expected a JSON object")
    if "messages" in obj:
        messages = obj["messages"]
        if not isinstance(messages, list) or len(messages) < 2:
            raise ValueError(f'{where}: "messages" must hold a prompt and an assistant answer')
        prompt, completion = messages[:-1], messages[-1:]
    elif "prompt" in obj and "completion" in obj:
        prompt, completion = obj["prompt"], obj["completion"]
        if not isinstance(prompt, list) or not isinstance(completion, list) or not prompt or len(completion) != 1:
            raise ValueError(f'{where}: "prompt" must be a list of messages and "completion" one message')
    else:
        raise ValueError(f'{where}: expected {{"messages": [...]}} (or {{"prompt": [...], "completion": [...]}})')
    for message in prompt + completion:
        if not (isinstance(message, dict) and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            raise ValueError(f'{where}: every message needs string "role" and "content"')
    if completion[0]["role"] != "assistant":
        raise ValueError(f"{where}: the last message must be the assistant's answer")
    return {"prompt": [_message(m) for m in prompt], "completion": [_message(completion[0])]}


def _message(message: dict[str, Any]) -> dict[str, str]:
    return {"role": message["role"], "content": message["content"]}


def cpu_supports_bf16() -> bool:
    """Whether this CPU computes in bf16 natively (AVX512-BF16 or AMX, read from /proc/cpuinfo on Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = next((line.split(":", 1)[1].split() for line in cpuinfo if line.startswith("flags")), [])
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(bf16: bool, fp16: bool) -> str:
    """The precision the device can honour: bf16 on a GPU that has it or a CPU that computes in it (autocast over
    fp32 weights there, see ``weight_dtype``), fp16 only on CUDA, else fp32."""
    import torch

    if bf16 and (torch.cuda.is_bf16_supported() if torch.cuda.is_available() else cpu_supports_bf16()):
        return "bf16"
    if fp16 and torch.cuda.is_available():
        return "fp16"
    return "fp32"


def weight_dtype(precision: str) -> torch.dtype:
    """The dtype a model's weights load in: the run's precision on a GPU; fp32 on a CPU, where bf16 runs as
    autocast over fp32 master weights (a CPU's bf16 optimizer steps lose the small updates)."""
    import torch

    if not torch.cuda.is_available():
        return torch.float32
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)


def describe_device(precision: str, load_in_4bit: bool) -> DeviceInfo:
    """The device this process trains on, named as a person reading the run page would want it."""
    import platform

    import torch

    if torch.cuda.is_available():
        return DeviceInfo("cuda", torch.cuda.get_device_name(), precision, load_in_4bit)
    return DeviceInfo("cpu", f"{platform.processor() or platform.machine()} x{os.cpu_count()}", precision,
                      load_in_4bit)


def resolve_model(model_name: str, cache_dir: str | None) -> str:
    """A loadable path or hub id. Run alone (``uv run``), only hub ids and local paths work."""
    try:
        from pipeline.train.base_models import resolve_base_model
    except ImportError:
        return model_name
    return resolve_base_model(model_name, Path(cache_dir) if cache_dir else None)


def load_model(model_path: str, precision: str, load_in_4bit: bool, gradient_checkpointing: bool) -> PreTrainedModel:
    """The base model in the class its config names (a vision-language checkpoint keeps its vision tower).

    4-bit loads NF4 with double quantization (QLoRA) and prepares it for k-bit
    training; bitsandbytes runs this on CPU too, slowly.
    """
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    config = AutoConfig.from_pretrained(model_path)
    architecture = getattr(transformers, (config.architectures or [""])[0], None) or AutoModelForCausalLM
    dtype = weight_dtype(precision)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if torch.cuda.is_available():
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    if load_in_4bit:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype,
        )
    model = architecture.from_pretrained(model_path, **kwargs)
    if load_in_4bit:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=gradient_checkpointing)
    return model


def training_arguments(config: LoRARunConfig, precision: str, has_eval: bool) -> dict[str, Any]:
    """The ``TrainingArguments`` keywords every LoRA trainer sets from its run config (trainers add their own)."""
    import torch

    grouped = config.group_by_length and not getattr(config, "packing", False)
    return {
        "output_dir": str(Path(config.output_dir) / CHECKPOINTS_DIRNAME),
        "num_train_epochs": config.num_epochs,
        "max_steps": config.max_steps,
        "per_device_train_batch_size": config.batch_size,
        "per_device_eval_batch_size": config.batch_size,
        "gradient_accumulation_steps": config.gradient_accumulation_steps,
        "learning_rate": config.learning_rate,
        "warmup_steps": config.warmup_ratio,  # transformers 5 reads a value below 1 as a ratio
        "bf16": precision == "bf16",
        "fp16": precision == "fp16",
        "use_cpu": not torch.cuda.is_available(),  # bf16 autocast on a CPU needs it said
        "train_sampling_strategy": "group_by_length" if grouped else "random",
        "logging_steps": config.logging_steps,
        "eval_strategy": "steps" if has_eval else "no",
        "eval_steps": config.eval_steps,
        # Saving is driven by wall time and by stop requests (make_callbacks), not by step counts.
        "save_strategy": "no",
        "save_total_limit": config.keep_checkpoints,
        "seed": config.seed,
        "data_seed": config.seed,
        "report_to": "none",
        "disable_tqdm": True,
    }


def build_trainer(
    config: SFTRunConfig,
    callbacks: Sequence[TrainerCallback] = (),
    model_path: str | None = None,
) -> SFTTrainer:
    """The SFTTrainer for a run, datasets prepared (tokenized, labels masked) but not trained.

    Public so that tests and benchmarks see exactly what training sees.
    """
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoTokenizer, PrinterCallback
    from trl import SFTConfig, SFTTrainer

    if config.train_mode != "sft":
        raise ValueError(
            f"train mode {config.train_mode!r} is for multiple_choice data, which this trainer does not read yet; "
            "use 'sft' for chat JSONL"
        )
    model_path = model_path or resolve_model(config.model_name, config.model_cache_dir)
    train_dataset = Dataset.from_list(read_chat_jsonl(config.train_file))
    eval_dataset = Dataset.from_list(read_chat_jsonl(config.valid_file)) if config.valid_file else None
    precision = resolve_precision(config.bf16, config.fp16)

    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if not tokenizer.chat_template:
        raise ValueError(f"{model_path} has no chat template; the chat data cannot be rendered")
    model = load_model(model_path, precision, config.load_in_4bit, config.gradient_checkpointing)
    target_modules = config.target_modules or default_target_modules(model.config.model_type)
    args = SFTConfig(
        **training_arguments(config, precision, has_eval=eval_dataset is not None),
        max_length=config.max_seq_length,
        packing=config.packing,
        completion_only_loss=True,
        activation_checkpointing=config.gradient_checkpointing,
        # Padding-free batches carry no padding, so every token is a real one.
        include_num_input_tokens_seen="all" if config.packing else "non_padding",
    )
    trainer = SFTTrainer(
        model=model,
        args=args,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=target_modules,
            task_type="CAUSAL_LM",
        ),
        callbacks=list(callbacks),
    )
    # With tqdm off, transformers prints every log dict to stdout; reporting goes through the callbacks instead.
    trainer.remove_callback(PrinterCallback)
    if len(trainer.train_dataset) == 0:  # TRL drops the examples whose answer was truncated away
        raise ValueError(f"none of the {len(train_dataset)} train examples keeps its answer within max_seq_length="
                         f"{config.max_seq_length} tokens; raise max_seq_length")
    return trainer


class StopRequest:
    """Why a run should stop early: a signal (interrupted) or the caller's cancel check (cancelled)."""

    def __init__(self, should_stop: StopCheck | None = None) -> None:
        self._should_stop = should_stop
        self.signal_number: int | None = None
        self.cancelled = False

    def requested(self) -> bool:
        if self.signal_number is None and not self.cancelled and self._should_stop is not None:
            self.cancelled = bool(self._should_stop())
        return self.signal_number is not None or self.cancelled

    @property
    def status(self) -> str:
        if self.signal_number is not None:
            return STATUS_INTERRUPTED
        return STATUS_CANCELLED if self.cancelled else STATUS_COMPLETED


@contextlib.contextmanager
def stop_on_signals(stop: StopRequest, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)) -> Iterator[None]:
    """Turn SIGTERM/SIGINT into a stop request (checkpoint, then stop) while the block runs.

    The first signal restores the previous handlers, so a second one acts as it
    would have (Ctrl-C twice aborts at once). Signal handlers can only be set
    from the main thread; elsewhere this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in signals}

    def handle(number: int, _frame: Any) -> None:
        stop.signal_number = number
        for other, handler in previous.items():
            signal.signal(other, handler)

    for number in signals:
        signal.signal(number, handle)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def make_callbacks(
    stop: StopRequest,
    checkpoint_minutes: float,
    on_progress: ProgressCallback | None = None,
    on_metric: MetricCallback | None = None,
    on_log: LogCallback | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> list[TrainerCallback]:
    """The trainer callbacks of a run: timed checkpoints, stop requests, reporting to the caller.

    Built here rather than at module level so that importing this module (for
    the config, or ``--help``) does not import transformers and torch.
    """
    from transformers import TrainerCallback

    class TimedCheckpoint(TrainerCallback):
        """Save every ``checkpoint_minutes`` of wall time and at the last step.

        Time, not steps: a step takes milliseconds on a tiny model and seconds
        on a 3B one, while what we bound is the work a dead worker loses.
        """

        def __init__(self) -> None:
            self.last_save = clock()

        def on_train_begin(self, args, state, control, **kwargs):
            self.last_save = clock()

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step >= state.max_steps or clock() - self.last_save >= checkpoint_minutes * 60:
                control.should_save = True
            return control

        def on_save(self, args, state, control, **kwargs):
            self.last_save = clock()

    class StopOnRequest(TrainerCallback):
        """Log, save a checkpoint and leave the training loop after the step in which a stop was asked for."""

        def on_step_end(self, args, state, control, **kwargs):
            if stop.requested():
                control.should_log = True
                control.should_save = True
                control.should_training_stop = True
            return control

    class Reporting(TrainerCallback):
        """Forward progress, losses and log lines to the caller's callbacks."""

        def on_train_begin(self, args, state, control, **kwargs):
            if on_progress:
                on_progress(state.global_step, state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if on_progress:
                on_progress(state.global_step, state.max_steps)
            if state.global_step >= state.max_steps:
                control.should_log = True  # the final train loss, whatever logging_steps is
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            if on_metric:
                for source, key in (("loss", "train/loss"), ("eval_loss", "eval/loss")):
                    if source in logs:
                        on_metric(key, state.global_step, float(logs[source]))
            if on_log:
                values = " ".join(f"{key}={_short(value)}" for key, value in logs.items())
                on_log(f"step {state.global_step}/{state.max_steps} {values}")

    return [Reporting(), TimedCheckpoint(), StopOnRequest()]


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


@dataclass
class CheckpointInfo:
    """A saved checkpoint and where it stood, read back from its ``trainer_state.json``."""

    path: str
    step: int
    num_input_tokens_seen: int


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[CheckpointInfo]:
    """Complete checkpoints of a run, oldest first.

    ``trainer_state.json`` is written after the weights, optimizer and RNG
    state, so a directory without it is a save cut short by a kill; it is skipped.
    """
    directory = Path(output_dir) / CHECKPOINTS_DIRNAME
    found = []
    for state_file in directory.glob("checkpoint-*/trainer_state.json"):
        state = json.loads(state_file.read_text(encoding="utf-8"))
        found.append(CheckpointInfo(str(state_file.parent), int(state["global_step"]),
                                    int(state.get("num_input_tokens_seen", 0))))
    return sorted(found, key=lambda checkpoint: checkpoint.step)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Content hash for the run card: names the exact data an adapter was trained on."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_commit() -> str | None:
    """The git commit of this code, or None outside a git checkout (HF Jobs, a wheel)."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
            capture_output=True, text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return completed.stdout.strip() or None


def last_logged(log_history: list[dict[str, Any]], key: str) -> float | None:
    """The newest value of ``key`` in a Trainer's log history, or None when it was never logged."""
    values = [entry[key] for entry in log_history if key in entry]
    return float(values[-1]) if values else None


def write_json_atomically(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as sorted, indented JSON through a rename, so a reader never sees half a file."""
    staging = path.with_suffix(".tmp")
    staging.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(staging, path)


def train(
    config: SFTRunConfig,
    on_progress: ProgressCallback | None = None,
    on_metric: MetricCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    handle_signals: bool = True,
) -> TrainResult:
    """Train (or resume) a LoRA adapter; stops cleanly, with a checkpoint, when asked to.

    ``should_stop`` is polled after every optimizer step (cooperative cancel).
    With ``handle_signals`` and in the main thread, SIGTERM/SIGINT do the same
    and the result's status is ``interrupted``, so a queue can run it again and
    it resumes from the checkpoint (when ``config.resume``).
    """
    def build(callbacks: list[TrainerCallback], model_path: str) -> SFTTrainer:
        return build_trainer(config, callbacks=callbacks, model_path=model_path)

    def run_card(model_path: str, result: TrainResult, log_history: list[dict[str, Any]]) -> dict[str, Any]:
        import peft
        import torch
        import transformers
        import trl

        versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                    "peft": peft.__version__, "trl": trl.__version__}
        return base_run_card(config, model_path, result, versions)

    return run_training(config, build, run_card, on_progress=on_progress, on_metric=on_metric, on_log=on_log,
                        should_stop=should_stop, handle_signals=handle_signals, load_in_4bit=config.load_in_4bit)


def run_training(
    config: LoRARunConfig,
    build: Callable[[list[TrainerCallback], str], Trainer],
    run_card: Callable[[str, TrainResult, list[dict[str, Any]]], dict[str, Any]],
    on_progress: ProgressCallback | None = None,
    on_metric: MetricCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    handle_signals: bool = True,
    extra_callbacks: Sequence[TrainerCallback] = (),
    load_in_4bit: bool | None = None,
    save_adapter: Callable[[Trainer, Path], None] | None = None,
) -> TrainResult:
    """The run around a trainer, shared by ``train`` here and ``pipeline.train.cls_head.train``.

    Resumes from the newest checkpoint (or clears them without ``config.resume``),
    builds the trainer with ``build(callbacks, model_path)``, trains under the
    stop/signal plumbing, saves the adapter of a completed run (``save_adapter``,
    default ``trainer.save_model``), writes ``run_card(model_path, result,
    log_history)`` and returns the result. ``load_in_4bit`` None leaves 4-bit out
    of the device log line (trainers without QLoRA).
    """
    import torch

    started = time.monotonic()
    log = on_log or (lambda line: None)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoints_dir = output_dir / CHECKPOINTS_DIRNAME

    existing = list_checkpoints(output_dir)
    resume_from = existing[-1] if config.resume and existing else None
    if not config.resume and checkpoints_dir.exists():
        log(f"resume disabled: removing old checkpoints in {checkpoints_dir}")
        shutil.rmtree(checkpoints_dir)

    model_path = resolve_model(config.model_name, config.model_cache_dir)
    log(f"base model {config.model_name} -> {model_path}")
    stop = StopRequest(should_stop)
    callbacks = [*make_callbacks(stop, config.checkpoint_minutes, on_progress, on_metric, on_log), *extra_callbacks]
    from transformers import set_seed

    set_seed(config.seed)  # before the model is built: a fresh head's (or LoRA's) initial weights follow the seed
    trainer = build(callbacks, model_path)
    precision = "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32"
    device = describe_device(precision, bool(load_in_4bit))
    log(f"device {device.kind} ({device.name}), {precision}"
        + (f", 4-bit={load_in_4bit}" if load_in_4bit is not None else ""))
    if resume_from is not None:
        log(f"resuming from {resume_from.path} (step {resume_from.step})")
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()

    signal_guard = stop_on_signals(stop) if handle_signals else contextlib.nullcontext()
    if resume_from is not None and 0 < trainer.args.max_steps <= resume_from.step:
        # The worker died after the last step's checkpoint, before the run was marked done (or a finished run is
        # run again): the checkpoint is the trained model. Trainer.train would take one step past max_steps.
        from transformers import TrainerState
        from transformers.trainer_utils import TrainOutput

        log(f"{resume_from.path} is at the last step: nothing left to train, its weights are the model")
        trainer._load_from_checkpoint(str(resume_from.path))
        trainer.state = TrainerState.load_from_json(str(Path(resume_from.path) / "trainer_state.json"))
        output = TrainOutput(trainer.state.global_step, 0.0, {"train_runtime": 0.0})
    else:
        with signal_guard:
            output = trainer.train(resume_from_checkpoint=resume_from.path if resume_from else None)
    state = trainer.state
    # A stop that lands on the last step still leaves a finished run.
    status = STATUS_COMPLETED if state.global_step >= state.max_steps else stop.status
    if torch.cuda.is_available():
        device.peak_memory_bytes = int(torch.cuda.max_memory_allocated())

    adapter_dir = None
    if status == STATUS_COMPLETED:
        adapter_dir = output_dir / ADAPTER_DIRNAME
        if save_adapter is None:
            trainer.save_model(str(adapter_dir))
            log(f"adapter saved to {adapter_dir}")
        else:
            save_adapter(trainer, adapter_dir)
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
        train_loss=last_logged(state.log_history, "loss"),
        eval_loss=last_logged(state.log_history, "eval_loss"),
        tokens_per_second=(state.num_input_tokens_seen - first_tokens) / runtime if runtime else 0.0,
        steps_per_second=(state.global_step - first_step) / runtime if runtime else 0.0,
        duration_seconds=time.monotonic() - started,
        device=device,
        checkpoints=[checkpoint.path for checkpoint in list_checkpoints(output_dir)],
        stop_signal=stop.signal_number if status == STATUS_INTERRUPTED else None,
    )
    write_json_atomically(Path(result.run_card_path), run_card(model_path, result, state.log_history))
    if on_progress:
        on_progress(state.global_step, state.max_steps)
    del trainer
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return result


def base_run_card(config: LoRARunConfig, model_path: str, result: TrainResult,
                  versions: dict[str, str]) -> dict[str, Any]:
    """The run's provenance: enough to tell two adapters apart and to reproduce one (trainers add their own keys)."""
    datasets = {"train": {"path": config.train_file, "sha256": sha256_file(config.train_file)}}
    if config.valid_file:
        datasets["valid"] = {"path": config.valid_file, "sha256": sha256_file(config.valid_file)}
    return {
        "status": result.status,
        "base_model": config.model_name,
        "base_model_path": model_path,
        "datasets": datasets,
        "hyperparameters": asdict(config),
        "code_commit": code_commit(),
        "versions": versions,
        "device": asdict(result.device),
        "duration_seconds": result.duration_seconds,
        "steps_done": result.steps_done,
        "total_steps": result.total_steps,
        "resumed_from_step": result.resumed_from_step,
        "final_train_loss": result.train_loss,
        "final_eval_loss": result.eval_loss,
        "tokens_per_second": result.tokens_per_second,
        "adapter_dir": result.adapter_dir,
        "checkpoints": result.checkpoints,
    }


def _flag_type(hint: Any) -> Any:
    """The argparse type of a config field's type hint: the hint itself, or the str/number inside ``X | None``."""
    options = [option for option in typing.get_args(hint) if option is not type(None)] or [hint]
    for option in (str, float, int):
        if option in options:
            return option
    raise TypeError(f"no command-line type for {hint!r}")


def config_parser(config_class: type[LoRARunConfig], *, prog: str, description: str,
                  helps: dict[str, str] | None = None) -> argparse.ArgumentParser:
    """The CLI of a trainer, derived from its run config: one flag per field (``learning_rate`` ->
    ``--learning-rate``), typed by the field's hint, defaulting to the field's default, helped by its metadata
    (or ``helps``, by field name); a field without a default is a required flag, a bool an on/off pair
    (``--resume``/``--no-resume``), and ``choices`` in the metadata limit a value.
    """
    parser = argparse.ArgumentParser(prog=prog, description=description)
    hints = typing.get_type_hints(config_class)
    for config_field in fields(config_class):
        flag = "--" + config_field.name.replace("_", "-")
        help_text = (helps or {}).get(config_field.name, config_field.metadata.get("help", ""))
        required = config_field.default is MISSING and config_field.default_factory is MISSING
        kwargs: dict[str, Any] = {"help": help_text}
        if required:
            kwargs["required"] = True
        else:
            default = config_field.default
            kwargs["default"] = default
            if default is not None:
                kwargs["help"] = f"{help_text} (default: %(default)s)".lstrip()
        if hints[config_field.name] is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = _flag_type(hints[config_field.name])
            if "choices" in config_field.metadata:
                kwargs["choices"] = config_field.metadata["choices"]
        parser.add_argument(flag, **kwargs)
    return parser


def defaults(config_class: type[ConfigT]) -> dict[str, Any]:
    """Every field's default of a run config (fields without one, such as the file paths, left out)."""
    return {config_field.name: config_field.default for config_field in fields(config_class)
            if config_field.default is not MISSING}


def build_parser() -> argparse.ArgumentParser:
    """SFTRunConfig's flags (the seed's among them), plus the Hub ones that are not part of a run's definition."""
    parser = config_parser(
        SFTRunConfig,
        prog="python -m pipeline.train.sft",
        description="LoRA/QLoRA SFT of an instruct model on chat JSONL (loss on the assistant answer only). "
        "Checkpoints every --checkpoint-minutes and on SIGTERM/SIGINT; run again with the same --output-dir "
        "to resume. Exit status: 0 done, 128+N stopped by signal N (checkpoint saved, safe to re-run).",
        helps={"train_file": 'chat JSONL, one {"messages": [system, user, assistant]} a line',
               "valid_file": "chat JSONL evaluated every --eval-steps"},
    )
    add = parser.add_argument
    add("--hub-dataset", metavar="REPO",
        help="read --train-file/--valid-file from this Hub dataset repo (token: $HF_TOKEN)")
    add("--hub-dataset-revision", metavar="REV", help="commit or branch of --hub-dataset (default: main)")
    add("--push-to-hub", metavar="REPO",
        help="after a completed run, upload the adapter and run card to this private Hub model repo")
    return parser


def config_from_args(args: argparse.Namespace, config_class: type[ConfigT] = SFTRunConfig) -> ConfigT:
    """A run config from parsed flags (flags it has no field for, such as the Hub ones, are left out).

    Its ValueErrors (validation) are for the caller to turn into usage errors.
    """
    names = {config_field.name for config_field in fields(config_class)}
    values = {name: value for name, value in vars(args).items() if name in names}
    values["target_modules"] = parse_target_modules(values["target_modules"])
    return config_class(**values)


def fetch_hub_dataset(config: SFTRunConfig, repo_id: str, revision: str | None = None) -> SFTRunConfig:
    """The config with its data files, named as paths inside a Hub dataset repo, downloaded under the output dir."""
    from huggingface_hub import hf_hub_download

    local_dir = Path(config.output_dir) / HUB_DATA_DIRNAME

    def download(filename: str) -> str:
        return hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision, local_dir=local_dir)

    return replace(config, train_file=download(config.train_file),
                   valid_file=download(config.valid_file) if config.valid_file else None)


def push_adapter(result: TrainResult, repo_id: str) -> str:
    """Upload a completed run's adapter (repo root, so the repo loads as a peft adapter) and run card; the commit id."""
    from huggingface_hub import CommitOperationAdd, HfApi

    if result.adapter_dir is None:
        raise ValueError(f"run {result.status}: no adapter to push")
    adapter_dir = Path(result.adapter_dir)
    operations = [CommitOperationAdd(path.relative_to(adapter_dir).as_posix(), str(path))
                  for path in sorted(adapter_dir.rglob("*")) if path.is_file()]
    operations.append(CommitOperationAdd(RUN_CARD_NAME, result.run_card_path))
    api = HfApi()
    api.create_repo(repo_id, private=True, exist_ok=True)
    commit = api.create_commit(repo_id, operations,
                               commit_message=f"ftloop adapter: {result.steps_done}/{result.total_steps} steps")
    return commit.oid


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry; the exit status tells a queue whether to run it again (128+N after signal N)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        parser.error(str(error))

    def print_line(line: str) -> None:
        print(line, flush=True)

    try:
        if args.hub_dataset:
            config = fetch_hub_dataset(config, args.hub_dataset, args.hub_dataset_revision)
        result = train(config, on_log=print_line)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print_line(f"{result.status}: step {result.steps_done}/{result.total_steps}, run card {result.run_card_path}")
    if args.push_to_hub and result.status == STATUS_COMPLETED:
        print_line(f"adapter pushed to {args.push_to_hub} at commit {push_adapter(result, args.push_to_hub)}")
    if result.stop_signal is not None:
        return 128 + result.stop_signal
    return 0 if result.status == STATUS_COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
