"""Training on Hugging Face Jobs, end to end through the real huggingface_hub SDK against a fake Hub on loopback.

No Django, Redis or worker here. One real (tiny) training run is the job
script's own: ``sft.py`` with ``--hub-dataset``/``--push-to-hub`` reads a
published dataset from the fake and pushes a real LoRA adapter to it. The fake
Jobs API then hands that adapter out as what a remote job pushed.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.train import sft
from pipeline.train.hf_jobs import (
    SFT_SCRIPT,
    HFJobFailed,
    JobHandle,
    job_script_args,
    main,
    poll,
    publish_ft_dataset,
    run_hf_job_training,
    submit_training_job,
)
from tests.fakes.hf_server import FAKE_TOKEN, FAKE_USER, FakeHub, JobPlan, fake_hub, isolate_sdk  # noqa: F401
from tests.helpers import write_chat_jsonl
from tests.tiny_model import make_tiny_llama

DATASET_REPO = f"{FAKE_USER}/ftloop-splits"
MODEL_REPO = f"{FAKE_USER}/ftloop-adapter"
REQUESTS = ["calm rainy jazz for a quiet library", "loud festival drums at sunset",
            "warm acoustic guitar by the fire", "old vinyl ballad from my childhood"]
JOB_LOGS = ("base model HuggingFaceTB/SmolLM2-135M-Instruct", "step 1/2 loss=2.5 grad_norm=1.1",
            "step 2/2 loss=2.25 eval_loss=2.4", "completed: step 2/2")


@dataclass
class JobScriptRun:
    """What the job script did against the Hub: its exit status, the requests it made, the adapter it pushed."""

    exit_status: int
    output: str
    dataset_commit: str
    requests: list
    pushed: dict[str, bytes]
    tiny_model: Path
    splits: dict[str, Path]


@pytest.fixture(scope="module")
def job_script_run(tmp_path_factory) -> JobScriptRun:
    """sft.py run as a job runs it: the file alone, the job's arguments, Hub and token from the environment."""
    root = tmp_path_factory.mktemp("job-script")
    splits = {"train": write_chat_jsonl(root / "train.jsonl", 8, seed=1, requests=REQUESTS),
              "valid": write_chat_jsonl(root / "valid.jsonl", 4, seed=2, requests=REQUESTS)}
    texts = [m["content"] for line in splits["train"].read_text().splitlines() for m in json.loads(line)["messages"]]
    tiny_model = make_tiny_llama(root / "tiny-llama", texts)
    with pytest.MonkeyPatch.context() as patch, FakeHub() as hub:
        isolate_sdk(patch)
        commit = publish_ft_dataset(DATASET_REPO, {"train.jsonl": splits["train"], "valid.jsonl": splits["valid"]},
                                    token=hub.token, endpoint=hub.url)
        args = job_script_args(dataset_repo=DATASET_REPO, model_repo=MODEL_REPO, dataset_revision=commit,
                               hyperparameters={"model_name": str(tiny_model), "max_steps": 2, "batch_size": 4,
                                                "logging_steps": 1, "eval_steps": 2, "lora_r": 4})
        args[args.index("--output-dir") + 1] = str(root / "run")
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_TOKEN": hub.token, "HF_HUB_OFFLINE": "0",
               "TRANSFORMERS_OFFLINE": "0", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(root / "hf-home"),
               "OMP_NUM_THREADS": "1", "PYTHONPATH": ""}
        completed = subprocess.run([sys.executable, str(SFT_SCRIPT), *args], cwd=root, env=env, capture_output=True,
                                   text=True, timeout=600)
        pushed = hub.files(MODEL_REPO)
        requests = list(hub.requests)
    pushed.pop(".gitattributes", None)
    return JobScriptRun(completed.returncode, completed.stdout + completed.stderr, commit, requests, pushed,
                        tiny_model, splits)


def test_the_job_script_reads_the_pinned_dataset_from_the_hub_and_pushes_its_adapter(job_script_run):
    run = job_script_run
    assert run.exit_status == 0, run.output[-3000:]
    downloads = [r.path for r in run.requests if "/resolve/" in r.path and r.method == "GET"]
    card = json.loads(run.pushed["run_card.json"])

    assert f"adapter pushed to {MODEL_REPO}" in run.output and FAKE_TOKEN not in run.output
    assert sorted(downloads) == [f"/datasets/{DATASET_REPO}/resolve/{run.dataset_commit}/train.jsonl",
                                 f"/datasets/{DATASET_REPO}/resolve/{run.dataset_commit}/valid.jsonl"]
    assert {"adapter_config.json", "adapter_model.safetensors", "run_card.json"} <= set(run.pushed)
    assert card["status"] == "completed" and card["steps_done"] == 2
    assert card["datasets"]["train"]["sha256"] == sft.sha256_file(run.splits["train"])
    assert card["datasets"]["valid"]["sha256"] == sft.sha256_file(run.splits["valid"])
    assert {r.headers.get("authorization") for r in run.requests} == {f"Bearer {FAKE_TOKEN}"}


def adapter_plan(run: JobScriptRun, **overrides) -> JobPlan:
    return JobPlan(**{"logs": JOB_LOGS, "adapter_files": run.pushed, **overrides})


def test_a_full_run_publishes_submits_streams_and_downloads_a_loadable_adapter(
        fake_hub, job_script_run, tmp_path, capsys, caplog):
    caplog.set_level("DEBUG")
    # A log line that leaks the token (a careless print in a script) must not get past us.
    fake_hub.job_plan = adapter_plan(job_script_run, logs=JOB_LOGS + (f"env HF_TOKEN={FAKE_TOKEN}",))
    splits = job_script_run.splits
    logs: list[str] = []
    progress: list[tuple[int, int]] = []
    metrics: list[tuple[str, int, float]] = []
    handles: list[JobHandle] = []

    result = run_hf_job_training(
        splits["train"], splits["valid"], dataset_repo=DATASET_REPO, model_repo=MODEL_REPO,
        hyperparameters={"max_steps": 60, "learning_rate": 2e-3, "load_in_4bit": True, "bf16": True},
        token=FAKE_TOKEN, endpoint=fake_hub.url, dest_dir=tmp_path, on_log=logs.append,
        on_progress=lambda done, total: progress.append((done, total)),
        on_metric=lambda key, step, value: metrics.append((key, step, value)),
        on_submitted=handles.append, interval_s=0.01)

    (job,) = fake_hub.jobs.values()
    command = job.spec["command"]
    parsed = sft.build_parser().parse_args(command[3:])
    assert result == {"adapter_dir": str(tmp_path / "adapter"), "job_id": job.id, "job_url": handles[0].url,
                      "dataset_commit": fake_hub.repos[("dataset", DATASET_REPO)].head, "flavor": "a10g-small",
                      "status": "completed", "dataset_repo": DATASET_REPO, "model_repo": MODEL_REPO}
    assert handles == [JobHandle(job.id, FAKE_USER, f"{fake_hub.url}/jobs/{FAKE_USER}/{job.id}", "a10g-small",
                                 fake_hub.url)]

    # The splits, byte for byte, in a private dataset repo.
    published = fake_hub.files(DATASET_REPO, "dataset")
    assert published["train.jsonl"] == splits["train"].read_bytes()
    assert published["valid.jsonl"] == splits["valid"].read_bytes()
    assert fake_hub.repos[("dataset", DATASET_REPO)].private and fake_hub.repos[("model", MODEL_REPO)].private

    # sft.py as a uv job on an A10G, reading the published commit and pushing to the model repo.
    assert job.spec["flavor"] == "a10g-small" and job.spec["dockerImage"].startswith("ghcr.io/astral-sh/uv")
    assert command[:3] == ["uv", "run", "/data/sft.py"]
    (volume,) = job.spec["volumes"]
    assert f"{volume['path']}/sft.py" in fake_hub.buckets[volume["source"]]
    assert (parsed.hub_dataset, parsed.hub_dataset_revision, parsed.push_to_hub) == (
        DATASET_REPO, result["dataset_commit"], MODEL_REPO)
    assert (parsed.train_file, parsed.valid_file) == ("train.jsonl", "valid.jsonl")
    assert (parsed.max_steps, parsed.learning_rate, parsed.load_in_4bit, parsed.bf16) == (60, 2e-3, True, True)
    assert parsed.model_name == "HuggingFaceTB/SmolLM2-135M-Instruct"

    # The token: a secret of the job, and nowhere else.
    assert job.spec["secrets"] == {"HF_TOKEN": FAKE_TOKEN}
    assert FAKE_TOKEN not in json.dumps(job.spec["environment"]) + shlex.join(command)
    assert [r.path for r in fake_hub.requests if FAKE_TOKEN.encode() in r.body] == [f"/api/jobs/{FAKE_USER}"]
    assert all(r.headers.get("authorization") == f"Bearer {FAKE_TOKEN}"
               for r in fake_hub.requests if not r.path.startswith(("/cas/", "/v1/")))
    assert not any(FAKE_TOKEN in r.headers.get("authorization", "") for r in fake_hub.requests_to("^/cas/"))

    # Logs streamed once each, in order; sft.py's step lines became progress and metrics.
    job_lines = [line for line in logs if line in JOB_LOGS or "HF_TOKEN" in line]
    assert job_lines == list(JOB_LOGS) + ["env HF_TOKEN=***"]
    assert f"HF job {job.id}: RUNNING" in logs and f"HF job {job.id}: COMPLETED" in logs
    assert progress == [(1, 2), (2, 2)]
    assert metrics == [("train/loss", 1, 2.5), ("train/loss", 2, 2.25), ("eval/loss", 2, 2.4)]
    captured = capsys.readouterr()
    assert FAKE_TOKEN not in "\n".join(logs) + captured.out + captured.err + caplog.text

    # The adapter the job pushed, downloaded and loadable.
    adapter_dir = Path(result["adapter_dir"])
    for name, content in job_script_run.pushed.items():
        assert (adapter_dir / name).read_bytes() == content
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(job_script_run.tiny_model), adapter_dir)
    assert model.peft_config["default"].r == 4


def test_should_stop_cancels_the_job_and_downloads_nothing(fake_hub, job_script_run, tmp_path):
    fake_hub.job_plan = adapter_plan(job_script_run, stages=("SCHEDULING",) + ("RUNNING",) * 50 + ("COMPLETED",))
    logs: list[str] = []

    def should_stop() -> bool:
        return any(line.startswith("step 1/2") for line in logs)

    result = run_hf_job_training(
        job_script_run.splits["train"], None, dataset_repo=DATASET_REPO, model_repo=MODEL_REPO,
        hyperparameters={}, token=FAKE_TOKEN, endpoint=fake_hub.url, dest_dir=tmp_path, on_log=logs.append,
        should_stop=should_stop, interval_s=0.01)

    (job,) = fake_hub.jobs.values()
    assert result["status"] == "cancelled" and result["adapter_dir"] is None and result["job_id"] == job.id
    assert [r.path for r in fake_hub.requests_to("/cancel$", "POST")] == [f"/api/jobs/{FAKE_USER}/{job.id}/cancel"]
    assert job.stage == "CANCELED"
    assert "--valid-file" not in job.spec["command"]
    assert not fake_hub.requests_to(f"^/{MODEL_REPO}/resolve/") and not (tmp_path / "adapter").exists()


def test_a_job_that_errors_raises_with_its_stage_and_status_message(fake_hub, job_script_run, tmp_path):
    fake_hub.job_plan = JobPlan(stages=("SCHEDULING", "RUNNING", "ERROR"),
                                logs=(f"token is {FAKE_TOKEN}", "torch.OutOfMemoryError: CUDA out of memory"),
                                message="Job failed with exit code: 1. Reason: Error")
    logs: list[str] = []

    with pytest.raises(HFJobFailed) as failure:
        run_hf_job_training(
            job_script_run.splits["train"], job_script_run.splits["valid"], dataset_repo=DATASET_REPO,
            model_repo=MODEL_REPO, hyperparameters={"max_steps": 5}, token=FAKE_TOKEN, endpoint=fake_hub.url,
            dest_dir=tmp_path, on_log=logs.append, interval_s=0.01)

    (job,) = fake_hub.jobs.values()
    assert failure.value.stage == "ERROR" and failure.value.job_id == job.id
    assert str(failure.value) == (f"HF job {job.id} ended in ERROR: Job failed with exit code: 1. Reason: Error "
                                  f"({fake_hub.url}/jobs/{FAKE_USER}/{job.id})")
    assert "torch.OutOfMemoryError: CUDA out of memory" in logs
    assert str(pickle.loads(pickle.dumps(failure.value))) == str(failure.value)  # crosses a result backend
    assert FAKE_TOKEN not in "\n".join(logs) + str(failure.value) + repr(failure.value)


def test_poll_rides_out_a_flaky_hub(fake_hub, job_script_run):
    fake_hub.job_plan = adapter_plan(job_script_run)
    publish_ft_dataset(DATASET_REPO, {"train.jsonl": job_script_run.splits["train"]}, token=FAKE_TOKEN,
                       endpoint=fake_hub.url)
    job = submit_training_job(dataset_repo=DATASET_REPO, model_repo=MODEL_REPO, hyperparameters={},
                              token=FAKE_TOKEN, endpoint=fake_hub.url, with_valid=False)
    fake_hub.fail_next("GET", rf"^/api/jobs/{FAKE_USER}/{job.job_id}$", status=503, times=2)
    logs: list[str] = []

    assert poll(job, token=FAKE_TOKEN, on_log=logs.append, interval_s=0.01) == "completed"
    assert sum("Hub unavailable" in line for line in logs) == 2


def test_bad_hyperparameters_fail_before_anything_is_uploaded(fake_hub, job_script_run, tmp_path):
    for hyperparameters in ({"max_stepz": 5}, {"output_dir": "/elsewhere"}, {"batch_size": 0}):
        with pytest.raises(ValueError):
            run_hf_job_training(job_script_run.splits["train"], None, dataset_repo=DATASET_REPO,
                                model_repo=MODEL_REPO, hyperparameters=hyperparameters, token=FAKE_TOKEN,
                                endpoint=fake_hub.url, dest_dir=tmp_path)
    assert fake_hub.requests == []


def cli_args(hub: FakeHub, run: JobScriptRun, tmp_path: Path) -> list[str]:
    return ["--train-file", str(run.splits["train"]), "--valid-file", str(run.splits["valid"]),
            "--dataset-repo", DATASET_REPO, "--model-repo", MODEL_REPO, "--hyperparameters", '{"max_steps": 30}',
            "--endpoint", hub.url, "--dest-dir", str(tmp_path), "--interval", "0.01"]


@pytest.mark.parametrize("submit_env", [None, "false", "0"])
def test_the_cli_only_prints_its_plan_without_submit(fake_hub, job_script_run, tmp_path, capsys, monkeypatch,
                                                     submit_env):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    if submit_env is None:
        monkeypatch.delenv("HF_JOB_SUBMIT", raising=False)
    else:
        monkeypatch.setenv("HF_JOB_SUBMIT", submit_env)

    assert main(cli_args(fake_hub, job_script_run, tmp_path)) == 0

    out = capsys.readouterr().out
    assert out.startswith("dry run") and "a10g-small" in out and "--max-steps 30" in out
    assert "secret HF_TOKEN: from $HF_TOKEN" in out and FAKE_TOKEN not in out
    assert fake_hub.requests == [] and not (tmp_path / "adapter").exists()


def test_the_cli_refuses_a_bad_submit_flag_and_a_missing_token(fake_hub, job_script_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("HF_JOB_SUBMIT", "maybe")
    assert main(cli_args(fake_hub, job_script_run, tmp_path)) == 2
    monkeypatch.delenv("HF_JOB_SUBMIT")
    monkeypatch.delenv("HF_TOKEN")
    assert main(cli_args(fake_hub, job_script_run, tmp_path) + ["--submit"]) == 2
    assert fake_hub.requests == []


def test_the_cli_submits_with_hf_job_submit_true(fake_hub, job_script_run, tmp_path, capsys, monkeypatch):
    fake_hub.job_plan = adapter_plan(job_script_run)
    monkeypatch.setenv("HF_TOKEN", FAKE_TOKEN)
    monkeypatch.setenv("HF_JOB_SUBMIT", "true")

    assert main(cli_args(fake_hub, job_script_run, tmp_path)) == 0

    captured = capsys.readouterr()
    result = json.loads(captured.out[captured.out.index("{\n"):])
    assert result["status"] == "completed" and (Path(result["adapter_dir"]) / "adapter_config.json").is_file()
    assert len(fake_hub.jobs) == 1 and FAKE_TOKEN not in captured.out + captured.err
