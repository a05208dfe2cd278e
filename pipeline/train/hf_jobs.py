"""Train on Hugging Face Jobs: publish the splits, run ``sft.py`` there as a uv job, follow it, fetch the adapter.

The split files go to a private Hub dataset repo; the job runs this package's
``sft.py`` (``run_uv_job`` ships the local file; its PEP 723 header names the
dependencies) with ``--hub-dataset`` pinned to the published commit and
``--push-to-hub`` naming a private model repo; the adapter is then downloaded
from that repo. The token reaches the job only as its ``HF_TOKEN`` secret: it is
never in the command, the environment, the logs or an error message.

Python: ``run_hf_job_training(...)``, or its steps ``publish_ft_dataset``,
``submit_training_job``, ``poll``, ``download_adapter``. CLI:
``python -m pipeline.train.hf_jobs --help``; it only prints its plan unless
given ``--submit`` or ``HF_JOB_SUBMIT=true``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.train.sft import (
    STATUS_CANCELLED,
    STATUS_COMPLETED,
    LogCallback,
    MetricCallback,
    ProgressCallback,
    SFTRunConfig,
    StopCheck,
    StopRequest,
    sha256_file,
    stop_on_signals,
)

if TYPE_CHECKING:
    from huggingface_hub import HfApi

SFT_SCRIPT = Path(__file__).with_name("sft.py")
DEFAULT_FLAVOR = "a10g-small"
DEFAULT_TIMEOUT = "3h"
DEFAULT_POLL_SECONDS = 15.0
TRAIN_FILENAME = "train.jsonl"
VALID_FILENAME = "valid.jsonl"
JOB_OUTPUT_DIR = "/tmp/ftloop-run"
SUBMIT_ENV = "HF_JOB_SUBMIT"
# The bundled base model is a local conversion; inside a job the same weights come from the Hub.
_JOB_MODEL_IDS = {"smollm2-135m-instruct": "HuggingFaceTB/SmolLM2-135M-Instruct"}
# Set by the orchestration, not by hyperparameters.
_RESERVED_HYPERPARAMETERS = {"train_file", "valid_file", "output_dir", "model_cache_dir"}
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}
_MAX_TRANSIENT_ERRORS = 5
_STEP_LINE = re.compile(r"^step (\d+)/(\d+)\b(.*)$")
_LOGGED_METRICS = {"loss": "train/loss", "eval_loss": "eval/loss"}

SubmittedCallback = Callable[["JobHandle"], None]


class HFJobFailed(RuntimeError):
    """A job that ended in ERROR or DELETED; the message names the stage and the Hub's status message.

    Built from its message alone, so it survives a trip through a task queue's result backend.
    """

    def __init__(self, message: str, *, job_id: str | None = None, stage: str | None = None) -> None:
        super().__init__(message)
        self.job_id, self.stage = job_id, stage

    @classmethod
    def ended(cls, job: JobHandle, stage: str, status_message: str | None) -> HFJobFailed:
        return cls(f"HF job {job.job_id} ended in {stage}: {status_message or 'no status message'} ({job.url})",
                   job_id=job.job_id, stage=stage)


@dataclass(frozen=True)
class JobHandle:
    """Enough to follow or cancel a job later (store ``asdict(handle)``); holds no token."""

    job_id: str
    namespace: str
    url: str
    flavor: str
    endpoint: str | None = None


def _api(token: str, endpoint: str | None) -> HfApi:
    from huggingface_hub import HfApi

    return HfApi(endpoint=endpoint, token=token)


def _redact(text: str, token: str) -> str:
    return text.replace(token, "***") if token else text


def publish_ft_dataset(repo_id: str, files: Mapping[str, Path], *, token: str, endpoint: str | None = None,
                       private: bool = True) -> str:
    """Upload split files (path in repo -> local file) to a dataset repo, creating it if needed; the commit id.

    The commit id pins the job to exactly this data, whatever is pushed to the repo later.
    """
    from huggingface_hub import CommitOperationAdd

    api = _api(token, endpoint)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(path)) for name, path in files.items()]
    commit = api.create_commit(repo_id, operations, repo_type="dataset",
                               commit_message=f"ftloop: {', '.join(files)}")
    return commit.oid


def job_script_args(*, dataset_repo: str, model_repo: str, hyperparameters: Mapping[str, Any],
                    dataset_revision: str | None = None, with_valid: bool = True) -> list[str]:
    """The ``sft.py`` command line for a job; hyperparameters are ``SFTRunConfig`` fields, checked here first.

    Checking before submitting turns a typo into an error now rather than a failed (and billed) job.
    """
    allowed = {config_field.name for config_field in fields(SFTRunConfig)} - _RESERVED_HYPERPARAMETERS
    unknown = set(hyperparameters) - allowed
    if unknown:
        raise ValueError(f"not a training hyperparameter: {', '.join(sorted(unknown))}")
    values = dict(hyperparameters)
    model_name = str(values.get("model_name", SFTRunConfig.model_name))
    values["model_name"] = _JOB_MODEL_IDS.get(model_name.lower(), model_name)
    SFTRunConfig(train_file=TRAIN_FILENAME, output_dir=JOB_OUTPUT_DIR, **values)  # raises on a bad value
    args = ["--hub-dataset", dataset_repo, "--train-file", TRAIN_FILENAME, "--output-dir", JOB_OUTPUT_DIR,
            "--push-to-hub", model_repo]
    if dataset_revision:
        args += ["--hub-dataset-revision", dataset_revision]
    if with_valid:
        args += ["--valid-file", VALID_FILENAME]
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if value is None:
            continue
        if isinstance(value, bool):
            if value:
                args.append(flag)
            elif getattr(SFTRunConfig, name):  # a flag that is on by default (--resume)
                args.append("--no-" + flag[2:])
        elif isinstance(value, (list, tuple)):
            args += [flag, ",".join(value)]
        else:
            args += [flag, str(value)]
    return args


def submit_training_job(*, dataset_repo: str, model_repo: str, hyperparameters: Mapping[str, Any],
                        flavor: str = DEFAULT_FLAVOR, token: str, endpoint: str | None = None,
                        timeout: str | int = DEFAULT_TIMEOUT, dataset_revision: str | None = None,
                        with_valid: bool = True, namespace: str | None = None) -> JobHandle:
    """Create the private model repo and start ``sft.py`` as a uv job; the token goes in as the job's secret only."""
    args = job_script_args(dataset_repo=dataset_repo, model_repo=model_repo, hyperparameters=hyperparameters,
                           dataset_revision=dataset_revision, with_valid=with_valid)
    api = _api(token, endpoint)
    namespace = namespace or api.whoami()["name"]
    api.create_repo(model_repo, private=True, exist_ok=True)
    info = api.run_uv_job(str(SFT_SCRIPT), script_args=args, secrets={"HF_TOKEN": token}, flavor=flavor,
                          timeout=timeout, labels={"app": "ftloop"}, namespace=namespace)
    return JobHandle(job_id=info.id, namespace=info.owner.name, url=info.url, flavor=flavor, endpoint=endpoint)


def _is_transient(error: Exception) -> bool:
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        return error.response is not None and error.response.status_code in _TRANSIENT_STATUS
    return isinstance(error, httpx2.TransportError)


class _LogFollower:
    """Forward a job's new log lines; ``step N/M`` lines (sft.py's) also become progress and metrics."""

    def __init__(self, on_log: LogCallback, on_progress: ProgressCallback | None,
                 on_metric: MetricCallback | None, token: str) -> None:
        self.on_log, self.on_progress, self.on_metric, self.token = on_log, on_progress, on_metric, token
        self.seen = 0

    def take(self, lines: Sequence[str]) -> None:
        # Each fetch replays the log from its start; the lines past the ones already seen are new.
        for line in lines[self.seen:]:
            self._line(_redact(line.rstrip("\n"), self.token))
        self.seen = max(self.seen, len(lines))

    def _line(self, line: str) -> None:
        self.on_log(line)
        match = _STEP_LINE.match(line)
        if not match:
            return
        step, total = int(match.group(1)), int(match.group(2))
        if self.on_progress:
            self.on_progress(step, total)
        if self.on_metric:
            for key, value in re.findall(r"(\w+)=([-+.\deE]+|nan|inf)\b", match.group(3)):
                if key in _LOGGED_METRICS:
                    self.on_metric(_LOGGED_METRICS[key], step, float(value))


def poll(job: JobHandle, *, token: str, on_progress: ProgressCallback | None = None,
         on_log: LogCallback | None = None, on_metric: MetricCallback | None = None,
         should_stop: StopCheck | None = None, interval_s: float = DEFAULT_POLL_SECONDS) -> str:
    """Follow a job to its end: ``completed``, or ``cancelled`` (asked via ``should_stop``, or on the Hub).

    Streams new log lines to ``on_log`` every ``interval_s``; rides out a few
    consecutive 429/5xx or connection errors; raises ``HFJobFailed`` on ERROR/DELETED.
    """
    api = _api(token, job.endpoint)
    log = on_log or (lambda line: None)
    follower = _LogFollower(log, on_progress, on_metric, token)
    last_stage, errors = None, 0
    while True:
        try:
            if should_stop is not None and should_stop():
                api.cancel_job(job_id=job.job_id, namespace=job.namespace)
                log(f"HF job {job.job_id}: cancel requested")
                return STATUS_CANCELLED
            info = api.inspect_job(job_id=job.job_id, namespace=job.namespace)
            stage = str(getattr(info.status.stage, "value", info.status.stage))
            if stage != "SCHEDULING":
                follower.take(list(api.fetch_job_logs(job_id=job.job_id, namespace=job.namespace)))
        except Exception as error:
            errors += 1
            if not _is_transient(error) or errors > _MAX_TRANSIENT_ERRORS:
                raise
            log(f"HF job {job.job_id}: Hub unavailable ({type(error).__name__}), retry {errors}")
            time.sleep(interval_s * 2 ** (errors - 1))
            continue
        errors = 0
        if stage != last_stage:
            log(f"HF job {job.job_id}: {stage}")
            last_stage = stage
        if stage == "COMPLETED":
            return STATUS_COMPLETED
        if stage == "CANCELED":
            return STATUS_CANCELLED
        if stage in ("ERROR", "DELETED"):
            raise HFJobFailed.ended(job, stage, _redact(info.status.message or "", token) or None)
        time.sleep(interval_s)


def download_adapter(model_repo: str, dest: str | Path, *, token: str, endpoint: str | None = None,
                     revision: str | None = None) -> Path:
    """Download the adapter a job pushed into ``dest`` (a directory peft loads); fails if there is none."""
    from huggingface_hub import snapshot_download

    path = Path(snapshot_download(model_repo, revision=revision, local_dir=dest, token=token, endpoint=endpoint))
    if not (path / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{model_repo} holds no adapter_config.json: the job pushed no adapter")
    return path


def run_hf_job_training(train_file: str | Path, valid_file: str | Path | None, *, dataset_repo: str,
                        model_repo: str, hyperparameters: Mapping[str, Any], flavor: str = DEFAULT_FLAVOR,
                        token: str, endpoint: str | None = None, dest_dir: str | Path,
                        timeout: str | int = DEFAULT_TIMEOUT, on_progress: ProgressCallback | None = None,
                        on_log: LogCallback | None = None, on_metric: MetricCallback | None = None,
                        should_stop: StopCheck | None = None, on_submitted: SubmittedCallback | None = None,
                        interval_s: float = DEFAULT_POLL_SECONDS) -> dict[str, Any]:
    """The training stage on HF Jobs, publish to download; what the run row stores.

    ``on_submitted`` gets the job handle as soon as the job exists, so a caller
    can record it and cancel or re-follow the job should this process die.
    Returns ``adapter_dir`` (None unless completed), ``job_id``, ``job_url``,
    ``dataset_commit``, ``flavor``, ``status`` (``completed``/``cancelled``),
    ``dataset_repo`` and ``model_repo``. Raises ``HFJobFailed`` when the job fails.
    """
    log = on_log or (lambda line: None)
    files = {TRAIN_FILENAME: Path(train_file)}
    if valid_file:
        files[VALID_FILENAME] = Path(valid_file)
    result: dict[str, Any] = {"adapter_dir": None, "job_id": None, "job_url": None, "dataset_commit": None,
                              "flavor": flavor, "status": STATUS_CANCELLED, "dataset_repo": dataset_repo,
                              "model_repo": model_repo}
    # Fail on bad hyperparameters before anything is uploaded.
    job_script_args(dataset_repo=dataset_repo, model_repo=model_repo, hyperparameters=hyperparameters)
    result["dataset_commit"] = publish_ft_dataset(dataset_repo, files, token=token, endpoint=endpoint)
    log(f"published {', '.join(files)} to dataset {dataset_repo} at {result['dataset_commit']}")
    if should_stop is not None and should_stop():
        return result
    job = submit_training_job(dataset_repo=dataset_repo, model_repo=model_repo, hyperparameters=hyperparameters,
                              flavor=flavor, token=token, endpoint=endpoint, timeout=timeout,
                              dataset_revision=result["dataset_commit"], with_valid=bool(valid_file))
    result.update(job_id=job.job_id, job_url=job.url)
    log(f"submitted HF job {job.job_id} on {flavor}: {job.url}")
    if on_submitted:
        on_submitted(job)
    result["status"] = poll(job, token=token, on_progress=on_progress, on_log=log, on_metric=on_metric,
                            should_stop=should_stop, interval_s=interval_s)
    if result["status"] == STATUS_COMPLETED:
        adapter_dir = download_adapter(model_repo, Path(dest_dir) / "adapter", token=token, endpoint=endpoint)
        result["adapter_dir"] = str(adapter_dir)
        log(f"adapter downloaded from {model_repo} to {adapter_dir}")
    return result


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{name} must be true or false, got {value!r}")


def build_parser() -> argparse.ArgumentParser:
    """CLI flags; the token only ever comes from $HF_TOKEN."""
    parser = argparse.ArgumentParser(
        prog="python -m pipeline.train.hf_jobs",
        description="Fine-tune on Hugging Face Jobs: publish the splits to a private dataset repo, run sft.py as a "
        "uv job, stream its logs, download the adapter. Prints the plan only, unless --submit or "
        f"{SUBMIT_ENV}=true (jobs are billed). Token: $HF_TOKEN.",
    )
    add = parser.add_argument
    add("--train-file", required=True, help="chat JSONL training split")
    add("--valid-file", help="chat JSONL validation split")
    add("--dataset-repo", required=True, help="Hub dataset repo for the splits (created private)")
    add("--model-repo", required=True, help="Hub model repo the job pushes the adapter to (created private)")
    add("--hyperparameters", default="{}", type=json.loads,
        help='JSON object of SFTRunConfig fields, e.g. \'{"max_steps": 200, "load_in_4bit": true}\'')
    add("--flavor", default=DEFAULT_FLAVOR, help="job hardware (default: %(default)s)")
    add("--timeout", default=DEFAULT_TIMEOUT, help="the job's time limit, e.g. 90m or 3h (default: %(default)s)")
    add("--dest-dir", default="hf-job-output", help="the adapter is downloaded to DEST_DIR/adapter")
    add("--endpoint", help="Hub URL (default: $HF_ENDPOINT or huggingface.co)")
    add("--interval", type=float, default=DEFAULT_POLL_SECONDS, help="seconds between status checks")
    add("--submit", action="store_true", help=f"really submit (or set {SUBMIT_ENV}=true)")
    return parser


def _print_plan(args: argparse.Namespace, token_present: bool) -> None:
    script_args = job_script_args(dataset_repo=args.dataset_repo, model_repo=args.model_repo,
                                  hyperparameters=args.hyperparameters, dataset_revision="<published commit>",
                                  with_valid=args.valid_file is not None)
    print(f"dry run: nothing is uploaded or submitted (pass --submit or set {SUBMIT_ENV}=true)")
    for name, path in (("train", args.train_file), ("valid", args.valid_file)):
        if path:
            print(f"  publish {name}: {path} ({Path(path).stat().st_size} bytes, sha256 {sha256_file(path)}) "
                  f"-> dataset {args.dataset_repo} (private)")
    print(f"  job: flavor {args.flavor}, timeout {args.timeout}, uv run {SFT_SCRIPT.name} "
          f"{shlex.join(script_args)}")
    print(f"  secret HF_TOKEN: {'from $HF_TOKEN' if token_present else 'MISSING: set $HF_TOKEN'}")
    print(f"  then: adapter from model repo {args.model_repo} -> {Path(args.dest_dir) / 'adapter'}")


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry: 0 completed (or dry run), 1 failed or cancelled, 2 usage error."""
    from huggingface_hub.errors import HfHubHTTPError

    parser = build_parser()
    args = parser.parse_args(argv)
    token = os.environ.get("HF_TOKEN", "")
    try:
        submit = args.submit or _env_flag(SUBMIT_ENV)
        if not isinstance(args.hyperparameters, dict):
            raise ValueError("--hyperparameters must be a JSON object")
        if not submit:
            _print_plan(args, bool(token))
            return 0
        if not token:
            raise ValueError("set HF_TOKEN to submit a job")
    except (ValueError, TypeError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    def print_line(line: str) -> None:
        print(line, flush=True)

    stop = StopRequest()
    try:
        with stop_on_signals(stop):
            result = run_hf_job_training(
                args.train_file, args.valid_file, dataset_repo=args.dataset_repo, model_repo=args.model_repo,
                hyperparameters=args.hyperparameters, flavor=args.flavor, token=token, endpoint=args.endpoint,
                dest_dir=args.dest_dir, timeout=args.timeout, on_log=print_line, should_stop=stop.requested,
                interval_s=args.interval)
    except (HFJobFailed, HfHubHTTPError, ValueError, TypeError, OSError) as error:
        print(f"error: {_redact(str(error), token)}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0 if result["status"] == STATUS_COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main())
