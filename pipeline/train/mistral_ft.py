"""Mistral's managed fine-tuning as a training backend, on the pinned ``mistralai`` 2.5.1 SDK surface.

Flow: upload the train (and valid) chat JSONL with purpose "fine-tune" ->
create the job (not auto-started) -> start it once the service has validated
the files -> poll until a terminal status -> record ``fine_tuned_model``.
``should_stop`` cancels the job; ``delete_model`` removes a fine-tuned model.

DESIGN §5: the SDK dropped ``client.fine_tuning.jobs`` after 2.5.1, and the
service answers 410 Gone to accounts without hosted fine-tuning. A 410 or 422
from any step becomes MistralFineTuningUnavailable, whose message is a sentence
the web app can show as it is.

Run alone:
    python -m pipeline.train.mistral_ft train --train-file chat_train.jsonl --valid-file chat_valid.jsonl
    python -m pipeline.train.mistral_ft delete ft:ministral-3b-latest:ftloop:1234abcd
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.mistral import (
    CostLedger,
    MistralAPIError,
    api_error,
    call_with_retry,
    client_api_key,
    client_from_env,
    describe_error,
    is_api_failure,
    status_code_of,
)
from pipeline.train.sft import LogCallback, MetricCallback, ProgressCallback, StopCheck, read_chat_jsonl

if TYPE_CHECKING:
    from mistralai.client import Mistral

T = TypeVar("T")

DEFAULT_MODEL = "ministral-3b-latest"
WANDB_KEY_ENV = "WANDB_API_KEY"
TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "FAILED_VALIDATION", "CANCELLED"})
SUCCESS = "SUCCESS"
_VALIDATED = "VALIDATED"
_UNAVAILABLE_STATUSES = (410, 422)


class MistralFineTuningUnavailable(MistralAPIError):
    """The service refused hosted fine-tuning (HTTP 410 or 422); the message is written for the UI."""


@dataclass(frozen=True)
class MistralFTConfig:
    """One managed fine-tuning run; hyperparameters are the ones the API takes for completion models."""

    train_file: str
    valid_file: str | None = None
    model: str = DEFAULT_MODEL
    training_steps: int = 100
    learning_rate: float = 1e-4
    suffix: str | None = "ftloop"
    wandb_project: str = "ftloop"
    poll_interval_s: float = 10.0
    max_retries: int = 4

    def __post_init__(self) -> None:
        if self.training_steps < 1:
            raise ValueError(f"training_steps must be at least 1, got {self.training_steps}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        if self.poll_interval_s < 0:
            raise ValueError(f"poll_interval_s must not be negative, got {self.poll_interval_s}")


@dataclass(frozen=True)
class MistralFTResult:
    """Where a run ended; ``fine_tuned_model`` is the id to serve (and later delete) on success."""

    job_id: str
    status: str
    fine_tuned_model: str | None
    training_file_id: str
    validation_file_id: str | None
    trained_tokens: int | None = None
    cost_usd: float | None = None
    wandb_url: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == SUCCESS


def mistral_jsonl(path: str | os.PathLike[str]) -> bytes:
    """Our chat JSONL as Mistral's fine-tuning format: one ``{"messages": [...]}`` a line, nothing else.

    Reads {"messages": [...]} or TRL prompt/completion lines (ValueError names
    the file and line of a bad one) and drops any other keys, which the service rejects.
    """
    lines = [
        json.dumps({"messages": record["prompt"] + record["completion"]}, ensure_ascii=False)
        for record in read_chat_jsonl(path)
    ]
    return ("\n".join(lines) + "\n").encode("utf-8")


def unavailable_message(status: int, operation: str, detail: str) -> str:
    """The sentence the UI shows for a 410 or 422 answer."""
    if status == 410:
        return (
            f"Mistral's fine-tuning API answered 410 Gone while {operation}: this account has no access to "
            "hosted fine-tuning (Mistral has retired it for accounts without access). Train locally or on "
            "Hugging Face Jobs instead."
        )
    reason = f" ({detail})" if detail else ""
    return (
        f"Mistral's fine-tuning API answered 422 Unprocessable Entity while {operation}{reason}: it refused the "
        "job. Check that the base model can be fine-tuned and the hyperparameters are valid; accounts without "
        "hosted fine-tuning get this answer too."
    )


class _Session:
    """One client plus the retry, redaction and 410/422 policy every call of a run shares."""

    def __init__(self, client: Mistral, max_retries: int, sleep: Callable[[float], None], log: LogCallback) -> None:
        self.client = client
        self.max_retries = max_retries
        self.sleep = sleep
        self.log = log
        self.secrets = [client_api_key(client)]  # redact() adds MISTRAL_API_KEY and WANDB_API_KEY itself

    def call(self, operation: str, fn: Callable[[], T], *, fine_tuning: bool = True) -> T:
        """``fn()`` with retries; on fine-tuning calls a 410/422 becomes MistralFineTuningUnavailable."""
        try:
            return call_with_retry(fn, max_retries=self.max_retries, sleep=self.sleep, on_retry=self.log)
        except Exception as exc:
            if not is_api_failure(exc):
                raise
            status = status_code_of(exc)
            if fine_tuning and status in _UNAVAILABLE_STATUSES:
                detail = describe_error(exc, self.secrets).partition(": ")[2]
                raise MistralFineTuningUnavailable(unavailable_message(status, operation, detail), status) from None
            raise api_error(exc, f"Mistral API failed while {operation}", self.secrets) from None


def _upload(session: _Session, path: str | os.PathLike[str]) -> str:
    """Upload one chat JSONL file (converted by mistral_jsonl) with purpose "fine-tune"; its file id."""
    content = mistral_jsonl(path)
    name, examples = Path(path).name, content.count(b"\n")
    uploaded = session.call(
        f"uploading {name}",
        lambda: session.client.files.upload(file={"file_name": name, "content": content}, purpose="fine-tune"),
    )
    session.log(f"uploaded {name} ({examples} examples) as file {uploaded.id}")
    return uploaded.id


def _job_options(config: MistralFTConfig, train_id: str, valid_id: str | None, log: LogCallback) -> dict[str, Any]:
    from mistralai.client.models import CompletionTrainingParameters

    options: dict[str, Any] = {
        "model": config.model,
        "training_files": [{"file_id": train_id, "weight": 1}],
        "hyperparameters": CompletionTrainingParameters(
            training_steps=config.training_steps, learning_rate=config.learning_rate
        ),
        "auto_start": False,
    }
    if valid_id:
        options["validation_files"] = [valid_id]
    if config.suffix:
        options["suffix"] = config.suffix
    wandb_key = os.environ.get(WANDB_KEY_ENV)
    if wandb_key:
        options["integrations"] = [{"type": "wandb", "project": config.wandb_project, "api_key": wandb_key}]
        log(f"W&B integration on: the job reports to project {config.wandb_project!r}")
    return options


def _report_checkpoints(
    job: Any,
    seen: set[int],
    total_steps: int,
    on_progress: ProgressCallback | None,
    on_metric: MetricCallback | None,
) -> None:
    """New checkpoints as progress and train/eval loss metrics (the long-format keys of DESIGN §6)."""
    for checkpoint in sorted(getattr(job, "checkpoints", None) or [], key=lambda item: item.step_number):
        if checkpoint.step_number in seen:
            continue
        seen.add(checkpoint.step_number)
        metrics = checkpoint.metrics
        if on_metric:
            for key, value in (("train/loss", metrics.train_loss), ("eval/loss", metrics.valid_loss)):
                if isinstance(value, (int, float)):
                    on_metric(key, checkpoint.step_number, float(value))
        if on_progress:
            on_progress(min(checkpoint.step_number, total_steps), total_steps)


def _wandb_url(job: Any) -> str | None:
    for integration in getattr(job, "integrations", None) or []:
        url = getattr(integration, "url", None)
        if isinstance(url, str) and url:
            return url
    return None


def _training_cost(job: Any) -> float | None:
    metadata = getattr(job, "metadata", None)
    cost, currency = getattr(metadata, "cost", None), getattr(metadata, "cost_currency", None)
    return float(cost) if isinstance(cost, (int, float)) and currency in (None, "USD") else None


def fine_tune(
    config: MistralFTConfig,
    client: Mistral,
    *,
    on_progress: ProgressCallback | None = None,
    on_metric: MetricCallback | None = None,
    on_log: LogCallback | None = None,
    should_stop: StopCheck | None = None,
    ledger: CostLedger | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> MistralFTResult:
    """Upload, create, start, poll to a terminal status; cancel the job once ``should_stop()`` turns true.

    Returns the result for every terminal status (check ``succeeded``); raises
    MistralFineTuningUnavailable on 410/422 and MistralAPIError on other failures.
    A finished job's cost (when the service reports one) goes to ``ledger``.
    """
    log = on_log or (lambda line: None)
    session = _Session(client, config.max_retries, sleep, log)
    jobs = client.fine_tuning.jobs
    train_id = _upload(session, config.train_file)
    valid_id = _upload(session, config.valid_file) if config.valid_file else None
    options = _job_options(config, train_id, valid_id, log)
    job = session.call("creating the job", lambda: jobs.create(**options))
    if not hasattr(job, "status"):
        raise MistralAPIError(f"Mistral answered the job creation without a job: {type(job).__name__}")
    job_id = job.id
    log(f"created fine-tuning job {job_id}: {config.model}, {config.training_steps} steps, lr {config.learning_rate}")

    seen_steps: set[int] = set()
    status, started, cancel_sent = None, False, False
    while True:
        if job.status != status:
            status = job.status
            log(f"job {job_id}: {status}")
        _report_checkpoints(job, seen_steps, config.training_steps, on_progress, on_metric)
        if status in TERMINAL_STATUSES:
            break
        if not cancel_sent and should_stop is not None and should_stop():
            log(f"cancelling job {job_id}")
            job = session.call("cancelling the job", lambda: jobs.cancel(job_id=job_id))
            cancel_sent = True
            continue
        if status == _VALIDATED and not started and not cancel_sent:
            job = session.call("starting the job", lambda: jobs.start(job_id=job_id))
            started = True
            continue
        sleep(config.poll_interval_s)
        job = session.call("polling the job", lambda: jobs.get(job_id=job_id))

    fine_tuned_model = getattr(job, "fine_tuned_model", None) or None
    result = MistralFTResult(
        job_id=job_id,
        status=status,
        fine_tuned_model=fine_tuned_model if status == SUCCESS else None,
        training_file_id=train_id,
        validation_file_id=valid_id,
        trained_tokens=getattr(job, "trained_tokens", None) or None,
        cost_usd=_training_cost(job),
        wandb_url=_wandb_url(job),
    )
    if ledger is not None and (result.trained_tokens or result.cost_usd is not None):
        ledger.record("training", config.model, {"prompt_tokens": result.trained_tokens or 0}, usd=result.cost_usd)
    if result.succeeded:
        if on_progress:
            on_progress(config.training_steps, config.training_steps)
        log(f"job {job_id} succeeded: fine-tuned model {result.fine_tuned_model}")
    else:
        log(f"job {job_id} ended {status}")
    return result


def delete_model(
    client: Mistral, model_id: str, *, max_retries: int = 4, sleep: Callable[[float], None] = time.sleep
) -> bool:
    """Delete a fine-tuned model; whether the service says it is deleted."""
    session = _Session(client, max_retries, sleep, lambda line: None)
    answer = session.call(
        f"deleting model {model_id}", lambda: client.models.delete(model_id=model_id), fine_tuning=False
    )
    return bool(answer.deleted)


def build_parser() -> argparse.ArgumentParser:
    defaults = MistralFTConfig(train_file="")
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.train.mistral_ft",
        description="Mistral managed fine-tuning: upload chat JSONL, run a job, print the fine-tuned model id. "
        "Needs MISTRAL_API_KEY (MISTRAL_SERVER_URL optional; WANDB_API_KEY turns on the W&B integration). "
        "Exit status: 0 succeeded, 1 the job failed or was cancelled, 2 refused (e.g. 410 Gone), API error "
        "or bad input.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="run a fine-tuning job to its end")
    train.add_argument("--train-file", required=True, help='chat JSONL, one {"messages": [...]} a line')
    train.add_argument("--valid-file", help="chat JSONL for the service's validation loss")
    train.add_argument("--model", default=defaults.model, help="base model (default: %(default)s)")
    train.add_argument("--training-steps", type=int, default=defaults.training_steps)
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    train.add_argument("--suffix", default=defaults.suffix, help="added to the fine-tuned model's name")
    train.add_argument("--wandb-project", default=defaults.wandb_project, help="used when WANDB_API_KEY is set")
    train.add_argument("--poll-interval", type=float, default=defaults.poll_interval_s, help="seconds between polls")
    train.add_argument("--out", help="write the result as JSON here")
    delete = commands.add_parser("delete", help="delete a fine-tuned model")
    delete.add_argument("model_id")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def print_line(line: str) -> None:
        print(line, flush=True)

    try:
        client = client_from_env()
        if args.command == "delete":
            deleted = delete_model(client, args.model_id)
            print_line(f"{args.model_id}: {'deleted' if deleted else 'not deleted'}")
            return 0 if deleted else 1
        config = MistralFTConfig(
            train_file=args.train_file,
            valid_file=args.valid_file,
            model=args.model,
            training_steps=args.training_steps,
            learning_rate=args.learning_rate,
            suffix=args.suffix or None,
            wandb_project=args.wandb_project,
            poll_interval_s=args.poll_interval,
        )
        result = fine_tune(
            config,
            client,
            on_log=print_line,
            on_metric=lambda key, step, value: print_line(f"step {step} {key} {value:.4f}"),
        )
    except (ValueError, OSError, MistralAPIError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.out:
        Path(args.out).write_text(json.dumps(asdict(result), indent=2) + "\n", encoding="utf-8")
    print_line(f"{result.status}: {result.fine_tuned_model or 'no model'} (job {result.job_id})")
    return 0 if result.succeeded else 1


if __name__ == "__main__":
    sys.exit(main())
