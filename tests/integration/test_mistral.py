"""Mistral through the real SDK against a local fake: teacher, remote predictor, managed fine-tuning, secrets.

Pure pipeline code; no database, Redis or worker. The SDK is pointed at the
fake with server_url, so every request crosses real HTTP in the wire format.
"""

import email.utils
import json
import logging
import random
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from pipeline.data.export import chat_record
from pipeline.data.jsonl import read_json, write_jsonl
from pipeline.eval import run_eval as run_eval_cli
from pipeline.eval.predictors import build_predictor
from pipeline.eval.runner import evaluate
from pipeline.infer.remote import MistralPredictor
from pipeline.mistral import (
    DEFAULT_PRICES,
    Budget,
    BudgetExhausted,
    CostLedger,
    MistralAPIError,
    backoff_delay,
    call_with_retry,
    make_client,
    retry_after_s,
)
from pipeline.tasks.hidden_params import AXES, SYSTEM_PROMPT, constraints_for
from pipeline.tasks.hidden_params import TASK as HIDDEN_PARAMS
from pipeline.tasks.hidden_params.generate import generate_pairs
from pipeline.tasks.hidden_params.teacher import TemplateTeacher, get_teacher
from pipeline.tasks.hidden_params.teacher.mistral import SYSTEM_PROMPT as TEACHER_PROMPT
from pipeline.tasks.hidden_params.teacher.mistral import MistralTeacher
from pipeline.train import mistral_ft
from pipeline.train.mistral_ft import MistralFineTuningUnavailable, MistralFTConfig, delete_model, fine_tune
from tests.fakes.mistral_server import FAKE_API_KEY, NEUTRAL_ANSWER, fake_mistral  # noqa: F401

WANDB_KEY = "wandb-secret-0c9d8e7f6a"
PROMPT_TOKENS, COMPLETION_TOKENS = 200, 25  # the fake's usage for every chat call


@pytest.fixture(autouse=True)
def no_ambient_secrets(monkeypatch):
    for name in ("MISTRAL_API_KEY", "MISTRAL_API_KEY_FILE", "MISTRAL_SERVER_URL", "WANDB_API_KEY",
                 "FTLOOP_TEACHER_MODEL", "FTLOOP_TEACHER_BUDGET_USD"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def client(fake_mistral):
    return make_client(FAKE_API_KEY, fake_mistral.url)


@pytest.fixture
def mistral_env(monkeypatch, fake_mistral):
    monkeypatch.setenv("MISTRAL_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("MISTRAL_SERVER_URL", fake_mistral.url)


def chat_calls(fake):
    return fake.requests_to("/v1/chat/completions", "POST")


def eval_rows(count):
    rng = random.Random(4)
    rows = []
    for index in range(count):
        target = {axis: rng.randint(0, 100) for axis in AXES}
        rows.append({"id": f"e{index}", "request_text": f"request number {index}", "language": "en",
                     "target": target, "constraints": constraints_for(target)})
    return rows


# -- teacher ------------------------------------------------------------------------


def test_the_teacher_writes_twenty_pairs_concurrently_and_rides_out_a_429(fake_mistral, client):
    fake_mistral.chat_failures = [429, 429]
    fake_mistral.retry_after = "2"
    sleeps, logs, progress = [], [], []
    ledger = CostLedger()
    teacher = MistralTeacher(client, ledger=ledger, max_concurrency=4, sleep=sleeps.append)

    rows = generate_pairs(20, seed=3, language="mixed", teacher=teacher, on_log=logs.append,
                          on_progress=lambda done, total: progress.append((done, total)))

    assert [row["id"] for row in rows] == [f"g{index:06d}" for index in range(20)]
    assert {row["language"] for row in rows} == {"en", "ja"}
    assert all(row["teacher"] == "mistral" and row["request_text"] for row in rows)
    assert all(row["usage"] == {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS}
               for row in rows)
    assert all(row["constraints"] == constraints_for(row["target"]) for row in rows)
    # The prompt carried each salient axis: the fake echoes the first quality word it was asked for.
    english = [row for row in rows if row["language"] == "en"]
    assert english and all(("lively" in row["request_text"]) == any(
        c == {"axis": "energy", "direction": "high"} for c in row["constraints"]) for row in english)
    assert all(row["request_text"].endswith("。") for row in rows if row["language"] == "ja")

    calls = chat_calls(fake_mistral)
    assert len(calls) == 22  # 20 answers + the two throttled attempts, retried
    assert sleeps == [2.0, 2.0]  # Retry-After honoured
    assert sum("HTTP 429" in line for line in logs) == 2
    assert all(call.headers["authorization"] == f"Bearer {FAKE_API_KEY}" for call in calls)
    assert {call.json["model"] for call in calls} == {"mistral-large-latest"}
    assert all(call.json["messages"][0]["content"] == TEACHER_PROMPT for call in calls)
    for call in calls:
        user_prompt = call.json["messages"][1]["content"].lower()
        assert not any(axis in user_prompt for axis in AXES)
    assert progress[-1] == (20, 20)
    assert len(ledger.entries) == 20 and {entry.kind for entry in ledger.entries} == {"teacher"}
    per_call = (PROMPT_TOKENS * 0.50 + COMPLETION_TOKENS * 1.50) / 1_000_000
    assert ledger.total_usd() == pytest.approx(20 * per_call)


def test_the_same_seed_asks_for_the_same_targets_with_the_same_sampling_seeds(fake_mistral, client):
    first = generate_pairs(6, seed=9, language="en", teacher=MistralTeacher(client))
    seeds = [call.json["random_seed"] for call in chat_calls(fake_mistral)]
    second = generate_pairs(6, seed=9, language="en", teacher=MistralTeacher(client, max_concurrency=1))
    assert [row["target"] for row in first] == [row["target"] for row in second]
    assert sorted(seeds) == sorted(call.json["random_seed"] for call in chat_calls(fake_mistral)[6:])


def test_a_spent_budget_stops_generation_cleanly_and_keeps_the_pairs_it_paid_for(fake_mistral, client):
    # Each call costs $0.0001375 at the large model's prices: the fifth reaches $0.0006.
    budget = Budget(max_usd=0.0006)
    logs = []
    teacher = MistralTeacher(client, budget=budget, max_concurrency=1)

    rows = generate_pairs(20, seed=1, language="en", teacher=teacher, on_log=logs.append)

    assert [row["id"] for row in rows] == [f"g{index:06d}" for index in range(5)]
    assert len(chat_calls(fake_mistral)) == 5
    assert logs == [f"the mistral teacher stopped after 5 of 20 pairs: {budget.exhausted_reason()}"]
    assert "budget exhausted" in logs[0] and "$0.000600" in logs[0]


def test_with_concurrent_requests_a_token_budget_overshoots_by_at_most_the_calls_in_flight(fake_mistral, client):
    budget = Budget(max_tokens=5 * (PROMPT_TOKENS + COMPLETION_TOKENS))
    batch = MistralTeacher(client, budget=budget, max_concurrency=3).write_many(
        [({axis: 80 for axis in AXES}, "en", random.Random(index)) for index in range(20)]
    )
    written = sum(output is not None for output in batch.outputs)
    assert 5 <= written <= 7
    assert batch.stopped_reason.startswith("budget exhausted: used")


def test_a_budget_spent_before_the_first_pair_is_an_error_that_says_so(fake_mistral, client):
    teacher = MistralTeacher(client, budget=Budget(max_usd=0))
    with pytest.raises(RuntimeError, match="wrote no pairs: budget exhausted"):
        generate_pairs(3, seed=0, teacher=teacher)
    assert chat_calls(fake_mistral) == []


def test_cancelling_stops_the_batch_after_the_answers_in_flight(fake_mistral, client):
    items = [({axis: 50 for axis in AXES}, "ja", random.Random(index)) for index in range(12)]
    batch = MistralTeacher(client, max_concurrency=1).write_many(items, should_stop=lambda: True)
    assert batch.stopped_reason == "cancelled"
    # should_stop is polled after the first answer; the one worker may have begun a second request.
    assert 1 <= sum(output is not None for output in batch.outputs) <= 2


def test_an_api_that_keeps_failing_stops_the_batch_with_the_error(fake_mistral, client):
    fake_mistral.chat_failures = [503] * 3
    sleeps = []
    batch = MistralTeacher(client, max_concurrency=1, max_retries=2, sleep=sleeps.append).write_many(
        [({axis: 50 for axis in AXES}, "en", random.Random(0))] * 4
    )
    assert batch.outputs == [None] * 4
    assert batch.stopped_reason == (
        "Mistral API error: Mistral teacher (mistral-large-latest): HTTP 503: Internal server error")
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0  # backoff with jitter


def test_get_teacher_builds_the_mistral_teacher_from_the_environment(fake_mistral, monkeypatch, mistral_env):
    monkeypatch.setenv("FTLOOP_TEACHER_MODEL", "mistral-small-latest")
    monkeypatch.setenv("FTLOOP_TEACHER_BUDGET_USD", "0.25")
    teacher = get_teacher("mistral")
    assert (teacher.name, teacher.model, teacher.budget.max_usd) == ("mistral", "mistral-small-latest", 0.25)
    output = teacher.write({axis: 10 for axis in AXES}, "en", random.Random(0))
    assert "calm" in output.text and [item["axis"] for item in output.expressed] == list(AXES)
    assert chat_calls(fake_mistral)[0].json["model"] == "mistral-small-latest"
    assert isinstance(get_teacher("template"), TemplateTeacher)


def test_get_teacher_names_the_missing_or_malformed_variable(monkeypatch):
    with pytest.raises(ValueError, match="MISTRAL_API_KEY is not set"):
        get_teacher("mistral")
    monkeypatch.setenv("MISTRAL_API_KEY", FAKE_API_KEY)
    monkeypatch.setenv("FTLOOP_TEACHER_BUDGET_USD", "ten dollars")
    with pytest.raises(ValueError, match="FTLOOP_TEACHER_BUDGET_USD"):
        get_teacher("mistral")


# -- budget, ledger, retries ------------------------------------------------------------


def test_budget_charge_records_the_call_then_says_when_it_spent_the_rest():
    budget = Budget(max_tokens=500)
    budget.charge({"prompt_tokens": 200, "completion_tokens": 50}, "mistral-small-latest")
    budget.check()
    with pytest.raises(BudgetExhausted, match="used 500 of the 500 tokens"):
        budget.charge({"prompt_tokens": 200, "completion_tokens": 50}, "mistral-small-latest")
    assert budget.spent_tokens == 500
    with pytest.raises(BudgetExhausted):
        budget.check()
    with pytest.raises(ValueError, match="no price for 'my-model'"):
        Budget(max_usd=1).charge({"prompt_tokens": 1}, "my-model")


def test_the_ledger_prices_fine_tuned_models_like_their_base_and_keeps_unknown_cost_unknown():
    ledger = CostLedger()
    ledger.record("inference", "ft:open-mistral-nemo:ftloop:abc", {"prompt_tokens": 1_000_000})
    ledger.record("training", "ministral-3b-latest", {"prompt_tokens": 5000}, usd=0.42)
    ledger.record("inference", "someone-elses-model", {"prompt_tokens": 10})
    assert ledger.total_usd() == pytest.approx(0.15 + 0.42)
    assert ledger.total_usd("training") == pytest.approx(0.42)
    rows = ledger.to_rows()
    assert [row["kind"] for row in rows] == ["inference", "training", "inference"]
    assert rows[2]["usd"] is None
    assert set(rows[0]) == {"kind", "model", "prompt_tokens", "completion_tokens", "usd", "at"}
    with pytest.raises(ValueError, match="ledger kind"):
        ledger.record("lunch", "x")


def test_backoff_doubles_within_its_jitter_and_is_capped():
    rng = random.Random(0)
    for attempt in range(6):
        ceiling = min(8.0, 0.5 * 2**attempt)
        assert ceiling / 2 <= backoff_delay(attempt, 0.5, 8.0, rng) <= ceiling


def test_retry_after_is_read_as_seconds_or_as_an_http_date():
    from mistralai.client.errors import SDKError

    def throttled(value):
        request = httpx.Request("POST", "http://127.0.0.1/v1/chat/completions")
        return SDKError("API error occurred", httpx.Response(429, headers={"Retry-After": value}, request=request))

    assert retry_after_s(throttled("3")) == 3.0
    later = email.utils.format_datetime(datetime.now(timezone.utc) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after_s(throttled(later)) <= 30
    assert retry_after_s(throttled("soon")) is None
    assert retry_after_s(ValueError("not an HTTP error")) is None


def test_only_throttling_server_errors_and_transport_failures_are_retried(fake_mistral, client):
    fake_mistral.chat_failures = [400]
    sleeps = []
    with pytest.raises(Exception) as failure:
        call_with_retry(lambda: client.chat.complete(model="m", messages=[{"role": "user", "content": "x"}]),
                        sleep=sleeps.append)
    assert failure.value.status_code == 400 and sleeps == []
    dead = make_client(FAKE_API_KEY, "http://127.0.0.1:9", timeout_ms=2000)
    with pytest.raises(Exception, match="onnect"):
        call_with_retry(lambda: dead.chat.complete(model="m", messages=[{"role": "user", "content": "x"}]),
                        max_retries=2, base_delay_s=0.01, sleep=sleeps.append)
    assert len(sleeps) == 2


# -- remote predictor -----------------------------------------------------------------------


def test_run_eval_remote_mode_prices_the_tokens_the_api_reported(fake_mistral, mistral_env, tmp_path):
    examples = eval_rows(5)
    eval_set = write_jsonl(tmp_path / "frozen.jsonl", examples)
    train = write_jsonl(tmp_path / "train.jsonl", eval_rows(10))
    out = tmp_path / "remote.jsonl"

    run_eval_cli.main(["--mode", "remote", "--model-name", "mistral-small-latest", "--eval-set", str(eval_set),
                       "--out", str(out), "--few-shot", str(train), "--few-shot-k", "2"])

    saved = read_json(tmp_path / "remote.metrics.json")
    metrics, provenance = saved["metrics"], saved["provenance"]
    per_request = (PROMPT_TOKENS * DEFAULT_PRICES["mistral-small-latest"]["prompt_tokens"]
                   + COMPLETION_TOKENS * DEFAULT_PRICES["mistral-small-latest"]["completion_tokens"]) / 1_000_000
    assert metrics["cost_per_100_requests_usd"] == pytest.approx(100 * per_request)
    assert metrics["cost_per_100_requests_usd"] == pytest.approx(0.00275)
    assert metrics["json_valid_rate"] == 1.0
    assert (provenance["predictor"], provenance["model_id"], provenance["adapter"]) == (
        "remote:mistral-small-latest", "mistral-small-latest", None)

    calls = chat_calls(fake_mistral)
    assert len(calls) == 6  # one unscored warm-up + five
    request = calls[-1].json
    assert request["model"] == "mistral-small-latest" and request["temperature"] == 0.0
    assert request["response_format"] == {"type": "json_object"}
    assert [m["role"] for m in request["messages"]] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert request["messages"][0]["content"] == SYSTEM_PROMPT
    assert request["messages"][-1]["content"] == examples[-1]["request_text"]


def test_the_predictor_reports_raw_text_latency_and_usage_and_records_inference_cost(fake_mistral):
    ledger = CostLedger()
    predictor = MistralPredictor("open-mistral-nemo", FAKE_API_KEY, fake_mistral.url, ledger=ledger)
    assert (predictor.name, predictor.model_id, predictor.adapter) == ("remote:open-mistral-nemo",
                                                                       "open-mistral-nemo", None)
    result = evaluate(HIDDEN_PARAMS, predictor, eval_rows(3), warmup=False, commit="c0ffee",
                      cost=run_eval_cli.cost_model("remote", model_name="open-mistral-nemo"))
    assert all(row["raw"] == NEUTRAL_ANSWER and row["latency_ms"] > 0 for row in result.rows)
    assert all(row["usage"] == {"prompt_tokens": 200, "completion_tokens": 25} for row in result.rows)
    assert result.metrics["cost_per_100_requests_usd"] == pytest.approx(100 * 225 * 0.15 / 1_000_000)
    assert len(ledger.entries) == 3 and ledger.entries[0].kind == "inference"


def test_remote_mode_needs_a_model_and_a_key_and_takes_no_local_options(mistral_env, monkeypatch):
    with pytest.raises(ValueError, match="Mistral model id"):
        build_predictor(HIDDEN_PARAMS, "remote")
    with pytest.raises(ValueError, match="adapter"):
        build_predictor(HIDDEN_PARAMS, "remote", model_name="mistral-small-latest", adapter="a")
    monkeypatch.delenv("MISTRAL_API_KEY")
    with pytest.raises(ValueError, match="MISTRAL_API_KEY"):
        build_predictor(HIDDEN_PARAMS, "remote", model_name="mistral-small-latest")
    assert run_eval_cli.cost_model("remote", model_name="my-own-model") is None


# -- managed fine-tuning -----------------------------------------------------------------------


def chat_files(tmp_path):
    train_rows = [chat_record(HIDDEN_PARAMS, row) | {"id": row["id"]} for row in eval_rows(4)]
    valid_rows = [chat_record(HIDDEN_PARAMS, row) for row in eval_rows(2)]
    train = write_jsonl(tmp_path / "chat_train.jsonl", train_rows)
    return train, write_jsonl(tmp_path / "chat_valid.jsonl", valid_rows)


def test_managed_fine_tuning_runs_from_upload_to_a_fine_tuned_model(fake_mistral, client, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    train, valid = chat_files(tmp_path)
    logs, metrics, progress, sleeps = [], [], [], []
    ledger = CostLedger()
    config = MistralFTConfig(train_file=str(train), valid_file=str(valid), training_steps=30, learning_rate=2e-4)

    result = fine_tune(config, client, on_log=logs.append, on_progress=lambda d, t: progress.append((d, t)),
                       on_metric=lambda key, step, value: metrics.append((key, step, value)), ledger=ledger,
                       sleep=sleeps.append)

    uploads = fake_mistral.requests_to("/v1/files", "POST")
    assert [request.form["purpose"] for request in uploads] == ["fine-tune", "fine-tune"]
    assert [request.form["file"][0] for request in uploads] == ["chat_train.jsonl", "chat_valid.jsonl"]
    sent_train = [json.loads(line) for line in uploads[0].form["file"][1].decode().splitlines()]
    # messages only: the "id" key is dropped
    assert sent_train == [chat_record(HIDDEN_PARAMS, row) for row in eval_rows(4)]

    created = fake_mistral.requests_to("/v1/fine_tuning/jobs", "POST")[0].json
    assert created["model"] == "ministral-3b-latest"
    assert created["hyperparameters"] == {"training_steps": 30, "learning_rate": 2e-4}
    assert created["training_files"] == [{"file_id": result.training_file_id, "weight": 1.0}]
    assert created["validation_files"] == [result.validation_file_id]
    assert created["auto_start"] is False and created["suffix"] == "ftloop"
    assert created["integrations"] == [{"type": "wandb", "project": "ftloop", "api_key": WANDB_KEY}]

    starts = [r for r in fake_mistral.requests if r.path.endswith("/start")]
    assert len(starts) == 1
    assert result.succeeded and result.status == "SUCCESS"
    assert result.fine_tuned_model == f"ft:ministral-3b-latest:ftloop:{result.job_id[:8]}"
    assert (result.trained_tokens, result.cost_usd) == (123_456, 0.42)
    assert ("train/loss", 10, 2.0) in metrics and ("eval/loss", 20, 1.1) in metrics
    assert progress[-1] == (30, 30)
    assert sleeps and all(delay == config.poll_interval_s for delay in sleeps)
    assert [entry.kind for entry in ledger.entries] == ["training"] and ledger.total_usd() == 0.42
    assert any("W&B integration on" in line for line in logs)
    assert not any(WANDB_KEY in line or FAKE_API_KEY in line for line in logs)

    assert delete_model(client, result.fine_tuned_model) is True
    assert fake_mistral.deleted_models == [result.fine_tuned_model]


def test_a_410_becomes_a_sentence_the_ui_can_show(fake_mistral, client, tmp_path):
    fake_mistral.fine_tuning_status = 410
    train, _ = chat_files(tmp_path)
    with pytest.raises(MistralFineTuningUnavailable) as refused:
        fine_tune(MistralFTConfig(train_file=str(train)), client, sleep=lambda s: None)
    assert refused.value.status_code == 410
    assert str(refused.value).startswith(
        "Mistral's fine-tuning API answered 410 Gone while creating the job: this account has no access to "
        "hosted fine-tuning")
    assert len(fake_mistral.requests_to("/v1/fine_tuning/jobs")) == 1  # not retried


def test_a_422_names_the_services_reason_but_not_the_request_it_echoed(fake_mistral, client, monkeypatch, tmp_path):
    monkeypatch.setenv("WANDB_API_KEY", WANDB_KEY)
    fake_mistral.fine_tuning_status = 422
    train, _ = chat_files(tmp_path)
    with pytest.raises(MistralFineTuningUnavailable) as refused:
        fine_tune(MistralFTConfig(train_file=str(train), model="mistral-large-latest"), client)
    message = str(refused.value)
    assert message.startswith("Mistral's fine-tuning API answered 422 Unprocessable Entity while creating the job "
                              "(Model cannot be fine-tuned.)")
    assert WANDB_KEY.encode() in fake_mistral.requests_to("/v1/fine_tuning/jobs")[0].body  # it was echoed back...
    assert WANDB_KEY not in message and "input" not in message  # ...and left out


def test_should_stop_cancels_the_running_job(fake_mistral, client, tmp_path):
    fake_mistral.run_statuses = ["RUNNING"]
    train, _ = chat_files(tmp_path)
    polls = lambda: len(fake_mistral.requests_to("/v1/fine_tuning/jobs/", "GET"))  # noqa: E731
    logs = []

    result = fine_tune(MistralFTConfig(train_file=str(train)), client, should_stop=lambda: polls() >= 4,
                       on_log=logs.append, sleep=lambda s: None)

    assert result.status == "CANCELLED" and result.fine_tuned_model is None and not result.succeeded
    assert len([r for r in fake_mistral.requests if r.path.endswith("/cancel")]) == 1
    assert any(line.startswith("cancelling job") for line in logs)
    assert logs[-1] == f"job {result.job_id} ended CANCELLED"


def test_the_cli_prints_help_and_turns_a_410_into_exit_status_2(fake_mistral, mistral_env, tmp_path, capsys):
    with pytest.raises(SystemExit) as helped:
        mistral_ft.main(["--help"])
    assert helped.value.code == 0 and "managed fine-tuning" in capsys.readouterr().out
    fake_mistral.fine_tuning_status = 410
    train, _ = chat_files(tmp_path)
    assert mistral_ft.main(["train", "--train-file", str(train), "--poll-interval", "0"]) == 2
    assert "410 Gone" in capsys.readouterr().err


def test_the_cli_trains_and_writes_the_result(fake_mistral, mistral_env, tmp_path, capsys):
    train, valid = chat_files(tmp_path)
    out = tmp_path / "result.json"
    code = mistral_ft.main(["train", "--train-file", str(train), "--valid-file", str(valid), "--poll-interval", "0",
                            "--training-steps", "20", "--out", str(out)])
    assert code == 0
    saved = read_json(out)
    assert saved["status"] == "SUCCESS" and saved["fine_tuned_model"].startswith("ft:ministral-3b-latest:")
    assert mistral_ft.main(["delete", saved["fine_tuned_model"]]) == 0
    assert "deleted" in capsys.readouterr().out


# -- secrets ---------------------------------------------------------------------------------


def test_the_api_key_never_reaches_logs_or_error_messages(fake_mistral, monkeypatch, caplog, tmp_path):
    monkeypatch.setenv("MISTRAL_DEBUG", "1")  # the SDK's own debug logger would print the bearer token
    caplog.set_level(logging.DEBUG)
    client = make_client(FAKE_API_KEY, fake_mistral.url)
    lines, messages = [], []

    fake_mistral.chat_failures = [429, 500]
    generate_pairs(3, seed=0, teacher=MistralTeacher(client, max_concurrency=1, sleep=lambda s: None),
                   on_log=lines.append)

    wrong_key = "wrong-key-5e4d3c2b1a"
    with pytest.raises(MistralAPIError) as unauthorized:
        MistralPredictor("mistral-small-latest", wrong_key, fake_mistral.url, on_log=lines.append).predict(["hi"])
    assert unauthorized.value.status_code == 401
    messages += [str(unauthorized.value), repr(unauthorized.value)]

    fake_mistral.fine_tuning_status = 410
    train, _ = chat_files(tmp_path)
    with pytest.raises(MistralFineTuningUnavailable) as refused:
        fine_tune(MistralFTConfig(train_file=str(train)), client, on_log=lines.append)
    messages += [str(refused.value), repr(refused.value)]

    assert any("HTTP 429" in line for line in lines)
    assert fake_mistral.requests_to("/v1/chat/completions")[-1].headers["authorization"] == f"Bearer {wrong_key}"
    for secret in (FAKE_API_KEY, wrong_key):
        assert not any(secret in text for text in lines + messages)
        assert secret not in caplog.text
