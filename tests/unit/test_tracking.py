"""Experiment tracking: W&B offline, Trackio local, none, and Weave traces, all without network."""

from __future__ import annotations

import json
import logging
import socket
import sys
import types
from collections.abc import Sequence
from pathlib import Path

import pytest

from pipeline import tracking
from pipeline.tasks.predictors import Prediction

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:wandb.*")

FAKE_KEY = "fake-wandb-key-0123456789abcdef0123456789abcdef"
TAGS = {"dataset_version": "v3", "model_id": "smollm2-135m-instruct", "run_id": "17", "scenario": "six-params"}
EVAL_METRICS = {
    "json_valid_rate": 0.98,
    "vector_mae": 12.5,
    "mse_norm": 0.0312,
    "constraint_match_rate": 0.875,
    "slot_exact_match": 0.25,
    "intent_score_mean": 0.91,
    "p95_inference_latency_ms": 84.0,
    "cost_per_100_requests_usd": 0.0004,
}
LOSSES = [(1, {"train/loss": 2.5}), (2, {"train/loss": 1.75, "eval/loss": 1.9}), (3, {"train/loss": 1.25})]


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every directory wandb, trackio and huggingface_hub may write to lies under tmp_path; no key, no mode."""
    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    for name in ("WANDB_API_KEY", "WANDB_MODE", "FTLOOP_TRACKING", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
                 "TRACKIO_SPACE_ID", "TRACKIO_SERVER_URL", "TRACKIO_DIR"):
        monkeypatch.delenv(name, raising=False)
    # No stored Hub token either: trackio would ask the Hub who the user is.
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "hf-home" / "token"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any connection this process opens other than a Unix socket (wandb talks to wandb-core over one).

    wandb-core itself is a separate process: under strace it opens no network
    connection either in offline mode with stats off.
    """
    attempts: list[object] = []
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family != socket.AF_UNIX:
            attempts.append(address)
            raise OSError("no network in unit tests")
        real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    yield
    assert attempts == []


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A dataset file, an adapter directory and an eval summary to log as artifacts."""
    dataset = tmp_path / "inputs" / "chat_train.jsonl"
    dataset.parent.mkdir()
    dataset.write_text('{"messages": []}\n', encoding="utf-8")
    adapter = tmp_path / "inputs" / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}", encoding="utf-8")
    (adapter / "adapter_model.safetensors").write_bytes(b"\0" * 16)
    summary = tmp_path / "inputs" / "fine_tuned.metrics.json"
    summary.write_text(json.dumps({"metrics": EVAL_METRICS}), encoding="utf-8")
    return {"dataset": dataset, "adapter": adapter, "summary": summary}


def track_a_cycle(run: tracking.TrackerRun, files: dict[str, Path]) -> None:
    """What the training and eval stages record: losses per step, artifacts, the eval metrics."""
    for step, metrics in LOSSES:
        run.log(metrics, step=step)
    run.log_artifact(files["dataset"], "dataset v3", "dataset")
    run.log_artifact(files["adapter"], "adapter-run-17", "adapter")
    run.log_artifact(files["summary"], "eval-summary-17", "eval-summary")
    run.summary(EVAL_METRICS)


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "trackio"),
        ({"WANDB_API_KEY": FAKE_KEY}, "wandb"),
        ({"WANDB_MODE": "offline"}, "wandb"),
        ({"WANDB_API_KEY": FAKE_KEY, "WANDB_MODE": "disabled"}, "trackio"),
        ({"WANDB_API_KEY": FAKE_KEY, "FTLOOP_TRACKING": "none"}, "none"),
        ({"WANDB_API_KEY": FAKE_KEY, "FTLOOP_TRACKING": "trackio"}, "trackio"),
        ({"FTLOOP_TRACKING": "WandB", "WANDB_MODE": "offline"}, "wandb"),
    ],
)
def test_it_picks_the_backend_from_the_environment(env, backend):
    assert tracking.choose_backend(env) == backend


@pytest.mark.parametrize(
    "env",
    [
        {"FTLOOP_TRACKING": "mlflow"},
        {"FTLOOP_TRACKING": "wandb"},
        {"FTLOOP_TRACKING": "wandb", "WANDB_MODE": "disabled"},
    ],
)
def test_it_refuses_a_backend_it_cannot_use(env):
    with pytest.raises(ValueError, match="FTLOOP_TRACKING"):
        tracking.choose_backend(env)


def test_it_writes_a_wandb_offline_run_under_the_directory(tmp_path, monkeypatch, files):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    lines: list[str] = []
    with tracking.open_run(
        project="ftloop-test",
        name="train-17",
        config={"learning_rate": 2e-4, "lora_r": 8, "hf_token": "hf_should_not_be_stored"},
        tags=TAGS,
        directory=tmp_path / "tracking",
        on_log=lines.append,
    ) as run:
        track_a_cycle(run, files)

    ref = run.ref()
    run_dir = Path(ref["dir"])
    assert ref["backend"] == "wandb" and ref["project"] == "ftloop-test" and ref["run"] == "train-17"
    assert run_dir.parent == tmp_path / "tracking" / "wandb" and run_dir.name.startswith("offline-run-")
    assert ref["url"] == str(run_dir)
    assert lines == [f"tracking to W&B offline run {run_dir}"]

    written = tracking.read_wandb_offline(run_dir)
    assert written["metrics"]["train/loss"] == [(1, 2.5), (2, 1.75), (3, 1.25)]
    assert written["metrics"]["eval/loss"] == [(2, 1.9)]
    assert {key: written["summary"][key] for key in EVAL_METRICS} == EVAL_METRICS
    assert written["run"]["name"] == "train-17"
    assert sorted(written["run"]["tags"]) == sorted(f"{key}:{value}" for key, value in TAGS.items())
    assert written["config"] == {"learning_rate": 2e-4, "lora_r": 8, "tags": TAGS}
    artifacts = {artifact["name"]: artifact for artifact in written["artifacts"]}
    assert artifacts["dataset-v3"]["type"] == "dataset"
    assert artifacts["dataset-v3"]["files"] == ["chat_train.jsonl"]
    assert artifacts["adapter-run-17"]["type"] == "adapter"
    assert sorted(artifacts["adapter-run-17"]["files"]) == ["adapter_config.json", "adapter_model.safetensors"]
    assert artifacts["eval-summary-17"]["type"] == "eval-summary"
    assert [artifact["ref"] for artifact in ref["artifacts"]] == [
        "ftloop-test/dataset-v3:latest",
        "ftloop-test/adapter-run-17:latest",
        "ftloop-test/eval-summary-17:latest",
    ]


def test_it_never_writes_logs_or_returns_the_api_key(tmp_path, tmp_path_factory, monkeypatch, files, caplog, capfd):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    lines: list[str] = []
    run = tracking.open_run(
        project="ftloop-test",
        name="train-18",
        config={"wandb_api_key": FAKE_KEY, "note": FAKE_KEY},
        tags=TAGS,
        directory=tmp_path / "tracking",
        on_log=lines.append,
    )
    track_a_cycle(run, files)
    run.finish()
    printed = capfd.readouterr()

    # wandb 0.28 keeps the key in none of its files: run directory, staging, cache, config, home. wandb-core,
    # when an earlier test started it, keeps logging under that test's directories: read those too.
    earlier = [path for path in tmp_path_factory.getbasetemp().rglob("*") if "wandb-home" in path.parts]
    written = [path for path in [*tmp_path.rglob("*"), *earlier] if path.is_file()]
    assert any(path.suffix == ".wandb" for path in written)
    holding_key = [path for path in written if FAKE_KEY.encode() in path.read_bytes()]
    assert holding_key == []
    assert FAKE_KEY not in json.dumps(run.ref())
    assert FAKE_KEY not in "\n".join(lines) + caplog.text + printed.out + printed.err
    assert tracking.read_wandb_offline(Path(run.ref()["dir"]))["config"] == {"tags": TAGS}


def test_it_records_the_run_in_trackio_without_any_key(tmp_path, files):
    lines: list[str] = []
    with tracking.open_run(
        project="ftloop-test",
        name="train-17",
        config={"learning_rate": 2e-4},
        tags=TAGS,
        directory=tmp_path / "tracking",
        env={},
        on_log=lines.append,
    ) as run:
        track_a_cycle(run, files)
        run.log(EVAL_METRICS, step=4)

    ref = run.ref()
    assert ref["backend"] == "trackio" and ref["run"] == "train-17"
    assert ref["dir"] == str(tmp_path / "tracking" / "trackio")
    assert ref["url"] == str(tmp_path / "tracking" / "trackio" / "ftloop-test.db")
    assert Path(ref["url"]).is_file()
    assert lines == [f"tracking to Trackio project 'ftloop-test' run 'train-17' in {tmp_path / 'tracking' / 'trackio'}"]

    series = tracking.read_trackio_metrics("ftloop-test", "train-17", tmp_path / "tracking")
    assert series["train/loss"] == [(1, 2.5), (2, 1.75), (3, 1.25)]
    assert series["eval/loss"] == [(2, 1.9)]
    for key, value in EVAL_METRICS.items():
        assert series[key][-1] == (4, value), key  # the keys pass through unchanged

    artifacts = tracking.read_trackio_artifacts("ftloop-test", "train-17", tmp_path / "tracking")
    assert {(artifact["name"], artifact["type"]) for artifact in artifacts} == {
        ("dataset-v3", "dataset"),
        ("adapter-run-17", "adapter"),
        ("eval-summary-17", "eval-summary"),
    }
    assert [artifact["ref"] for artifact in ref["artifacts"]] == [
        "ftloop-test/dataset-v3:v0",
        "ftloop-test/adapter-run-17:v0",
        "ftloop-test/eval-summary-17:v0",
    ]
    assert not (tmp_path / "home").exists()


def test_it_keeps_trackio_runs_in_their_own_directories(tmp_path):
    for number in (1, 2):
        with tracking.open_run(
            project="ftloop-test", name="eval", config={}, tags={}, directory=tmp_path / f"run-{number}", env={}
        ) as run:
            run.log({"json_valid_rate": number / 10}, step=0)

    for number in (1, 2):
        assert tracking.read_trackio_metrics("ftloop-test", "eval", tmp_path / f"run-{number}") == {
            "json_valid_rate": [(0, number / 10)]
        }
    assert tracking.read_trackio_metrics("ftloop-test", "eval", tmp_path / "run-3") == {}


def test_it_finishes_the_run_when_the_stage_fails(tmp_path):
    with pytest.raises(RuntimeError, match="out of memory"):
        with tracking.open_run(
            project="ftloop-test", name="train", config={}, tags={}, directory=tmp_path / "tracking", env={}
        ) as run:
            run.log({"train/loss": 3.0}, step=1)
            raise RuntimeError("out of memory")

    assert run.finished
    assert tracking.read_trackio_metrics("ftloop-test", "train", tmp_path / "tracking") == {"train/loss": [(1, 3.0)]}


def test_it_tracks_nothing_when_told_so(tmp_path, files):
    lines: list[str] = []
    env = {"FTLOOP_TRACKING": "none", "WANDB_API_KEY": FAKE_KEY}
    with tracking.open_run(
        project="ftloop-test", name="train", config={}, tags=TAGS, directory=tmp_path / "tracking", env=env,
        on_log=lines.append,
    ) as run:
        track_a_cycle(run, files)

    logged = [("dataset-v3", "dataset", "dataset"), ("adapter-run-17", "adapter", "adapter"),
              ("eval-summary-17", "eval-summary", "summary")]
    assert run.ref() == {
        "backend": "none",
        "project": "ftloop-test",
        "run": "train",
        "url": None,
        "dir": None,
        "artifacts": [
            {"name": name, "type": kind, "path": str(files[key]), "ref": str(files[key])} for name, kind, key in logged
        ],
    }
    assert lines == ["tracking off (FTLOOP_TRACKING=none)"]
    assert not (tmp_path / "tracking").exists()


def test_it_refuses_metrics_that_are_not_numbers(tmp_path):
    env = {"FTLOOP_TRACKING": "none"}
    run = tracking.open_run(project="p", name="r", config={}, tags={}, directory=tmp_path, env=env)
    with pytest.raises(TypeError, match="vector_mae"):
        run.log({"vector_mae": "12.5"})


class EchoPredictor:
    name = "fine_tuned"
    model_id = "smollm2-135m-instruct"
    adapter = "runs/17/adapter"

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        return [Prediction(raw=text.upper(), latency_ms=1.0) for text in texts]


@pytest.fixture
def fresh_weave_state(monkeypatch):
    monkeypatch.setattr(tracking, "_weave_reasons_said", set())
    monkeypatch.setattr(tracking, "_weave_projects", set())


@pytest.mark.parametrize(
    ("env", "reason"),
    [
        ({}, "no WANDB_API_KEY"),
        ({"WANDB_API_KEY": FAKE_KEY, "WANDB_MODE": "offline"}, "WANDB_MODE=offline"),
        ({"WANDB_API_KEY": FAKE_KEY, "FTLOOP_TRACKING": "trackio"}, "FTLOOP_TRACKING=trackio"),
        ({"WANDB_API_KEY": FAKE_KEY}, "the weave package is not installed"),
    ],
)
def test_it_leaves_predictions_untraced_and_says_why_once(env, reason, monkeypatch, fresh_weave_state):
    monkeypatch.setitem(sys.modules, "weave", None)  # as if not installed, whatever this machine has
    predictor = EchoPredictor()
    lines: list[str] = []
    for _ in range(2):
        traced = tracking.trace_predictions(predictor, project="ftloop", attributes=TAGS, env=env, on_log=lines.append)
        assert traced is predictor
    assert len(lines) == 1 and reason in lines[0] and FAKE_KEY not in lines[0]


def test_it_tags_weave_traces_when_online(monkeypatch, fresh_weave_state):
    calls: dict[str, list] = {"init": [], "attributes": [], "ops": []}
    fake_weave = types.ModuleType("weave")

    def init(project: str) -> None:
        calls["init"].append(project)

    def op(function):
        def traced(*args):
            calls["ops"].append((function.__name__, dict(current)))
            return function(*args)

        return traced

    current: dict[str, str] = {}

    class attributes:
        def __init__(self, values: dict[str, str]) -> None:
            self.values = values

        def __enter__(self) -> None:
            calls["attributes"].append(self.values)
            current.update(self.values)

        def __exit__(self, *exc) -> None:
            current.clear()

    fake_weave.init, fake_weave.op, fake_weave.attributes = init, op, attributes
    monkeypatch.setitem(sys.modules, "weave", fake_weave)
    env = {"WANDB_API_KEY": FAKE_KEY}
    attributes_given = {"dataset_version": "v3", "run_id": "17", "scenario": "six-params"}

    traced = tracking.trace_predictions(EchoPredictor(), project="team/ftloop", attributes=attributes_given, env=env)
    again = tracking.trace_predictions(EchoPredictor(), project="team/ftloop", attributes=attributes_given, env=env)

    assert traced.predict(["a", "b"]) == EchoPredictor().predict(["a", "b"])
    again.predict(["c"])
    expected = {**attributes_given, "model_id": "smollm2-135m-instruct"}
    assert calls["init"] == ["team/ftloop"]
    assert calls["ops"] == [("predict_fine_tuned", expected), ("predict_fine_tuned", expected)]
    assert (traced.name, traced.model_id, traced.adapter) == ("fine_tuned", "smollm2-135m-instruct", "runs/17/adapter")
