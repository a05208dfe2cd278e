"""The prediction API over real HTTP (a live server on 127.0.0.1): its OpenAPI schema, fuzzed with schemathesis
(no input gets a 5xx or breaks the schema), and 20 concurrent clients for 60 s without an error (issue 15)."""

from __future__ import annotations

import concurrent.futures
import json
import statistics
import time
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from pipeline.data.jsonl import write_jsonl
from pipeline.train.reg_head import RegHeadRunConfig, train
from tests.factories import six_values_set
from tests.helpers import one_torch_thread  # noqa: F401 (autouse fixture)
from tests.tiny_model import make_tiny_llama
from webapp.runs.models import StageRun
from webapp.serving import registry, releases, tokens

pytestmark = pytest.mark.integration
LOAD_CLIENTS, LOAD_SECONDS = 20, 60


@pytest.fixture
def head(models_dir, tmp_path) -> tuple[str, str]:
    """(base model, adapter) of a tiny regression head, trained in a few seconds."""
    root = tmp_path
    rows = [{"request_text": f"{word} music for level {index}",
             "target": dict.fromkeys(("energy", "warmth", "brightness", "acousticness", "complexity", "nostalgia"),
                                     80 if word == "loud" else 20)}
            for index in range(12) for word in ("loud", "soft")]
    base = make_tiny_llama(root / "tiny", [row["request_text"] for row in rows])
    train(RegHeadRunConfig(train_file=str(write_jsonl(root / "train.jsonl", rows)), output_dir=str(root / "run"),
                           model_name=str(base), max_steps=4, learning_rate=1e-2, batch_size=8, lora_r=4,
                           eval_steps=100, task="hidden_params", resume=False))
    return str(base), str(root / "run" / "adapter")


@pytest.fixture
def served(transactional_db, engineer, head) -> str:
    """The head in service for the six-parameter task; an API key with room for the load test."""
    base, adapter = head
    run = StageRun.objects.create(kind=StageRun.Kind.TRAIN, status=StageRun.Status.SUCCESS, dataset=six_values_set(),
                                  params={"trainer": "reg_head", "model_name": base}, result={"adapter_dir": adapter})
    releases.promote(registry.register_run(run), "served by the API tests", user=engineer)
    return tokens.create_token("api tests", engineer, rate_per_minute=100_000)[1]


def post(url: str, key: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_schema_is_public_json_and_fuzzing_it_finds_no_server_error(live_server, served):
    import schemathesis

    with urllib.request.urlopen(live_server.url + "/api/v1/openapi.json") as response:
        document = json.loads(response.read())
    assert {"/api/v1/{task}/predict", "/api/v1/{task}/predict/batch"} <= set(document["paths"])
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 2
    calls: list[int] = []
    for operation in operations:
        @settings(max_examples=40, deadline=None, phases=[Phase.generate], database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def fuzz(case):
            # Every check but "no 5xx": a task type with nothing in service answers its documented 503.
            response = case.call_and_validate(base_url=live_server.url, headers={"Authorization": f"Bearer {served}"},
                                              excluded_checks=[schemathesis.checks.not_a_server_error])
            calls.append(response.status_code)
            unserved = response.status_code == 503 and "no model is in service" in response.text
            assert (response.status_code < 500 or unserved) and response.headers["content-type"][0].startswith("application/json")

        fuzz()
    assert len(calls) >= 40 and 200 in calls  # the fuzzer reached the model, not only the error paths


def test_twenty_clients_for_a_minute_get_no_error(live_server, served):
    url = live_server.url + "/api/v1/hidden_params/predict"
    post(url, served, {"text": "warm up"})  # load the model once
    deadline = time.monotonic() + LOAD_SECONDS

    def client(number: int) -> tuple[list[float], list[int]]:
        latencies, failures = [], []
        while time.monotonic() < deadline:
            started = time.perf_counter()
            status, body = post(url, served, {"text": f"client {number}: loud drums for the boss fight"})
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200 or not body.get("valid"):
                failures.append(status)
        return latencies, failures

    with concurrent.futures.ThreadPoolExecutor(LOAD_CLIENTS) as pool:
        results = list(pool.map(client, range(LOAD_CLIENTS)))
    latencies = [value for values, _ in results for value in values]
    failures = [status for _, statuses in results for status in statuses]
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"API load: {LOAD_CLIENTS} clients x {LOAD_SECONDS} s: {len(latencies)} requests, "
          f"{len(failures)} errors, p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms")
    assert failures == [] and len(latencies) >= LOAD_CLIENTS
