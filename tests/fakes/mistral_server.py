"""A fake Mistral API on 127.0.0.1 for the real ``mistralai`` SDK (``server_url=fake.url``).

It speaks the endpoints ftloop uses, in the shapes the pinned SDK (2.5.1) parses:

- POST /v1/chat/completions: a teacher prompt gets a plausible request built
  from its "- <degree>: <words>" lines (Japanese prompts get a Japanese
  sentence); any other prompt (the predictor) gets a JSON answer. Usage is
  ``chat_usage`` for every call.
- POST /v1/files (multipart), POST /v1/fine_tuning/jobs, GET .../jobs/{id},
  POST .../jobs/{id}/start, POST .../jobs/{id}/cancel, DELETE /v1/models/{id}.

Scriptable: ``chat_failures`` (status codes answered to the next chat calls,
e.g. [429, 503]), ``retry_after``, ``fine_tuning_status`` (e.g. 410 for every
fine-tuning call), ``validation_statuses``/``run_statuses`` (what successive
polls see before and after start). Every request is recorded, headers
included, so tests can assert on what the SDK really sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

FAKE_API_KEY = "fake-mistral-key-7f3a9c2e5b"
NEUTRAL_ANSWER = '{"energy":50,"warmth":50,"brightness":50,"acousticness":50,"complexity":50,"nostalgia":50}'

_QUALITY_LINE = re.compile(r"^- (?P<degree>[^:]+): (?P<words>.+)$", re.MULTILINE)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = None
    form: dict[str, Any] = field(default_factory=dict)  # multipart: field -> str, or (filename, bytes) for files


def teacher_sentence(prompt: str) -> str:
    """What a player might type, made from the qualities the teacher prompt asks for."""
    if "Language: Japanese" in prompt:
        return "この場面に合う雰囲気の曲をかけてください。"
    qualities = [f"{match['degree']} {match['words'].split(',')[0]}" for match in _QUALITY_LINE.finditer(prompt)]
    if not qualities:
        return "Could you play something balanced for this part of the game, please?"
    return f"Could you play something {' and '.join(qualities)} for this part, please?"


def default_chat_reply(request: dict[str, Any]) -> str:
    messages = request["messages"]
    if messages[0]["role"] == "system" and "music request box" in messages[0]["content"]:
        return teacher_sentence(messages[-1]["content"])
    return NEUTRAL_ANSWER


class FakeMistral:
    """The server and its script; start() binds a random port, ``url`` is what the SDK gets as server_url."""

    def __init__(self, api_key: str | None = FAKE_API_KEY) -> None:
        self.api_key = api_key
        self.chat_failures: list[int] = []
        self.retry_after: str | None = None
        self.chat_usage: tuple[int, int] = (200, 25)
        self.chat_reply: Callable[[dict[str, Any]], str] = default_chat_reply
        self.fine_tuning_status: int | None = None
        self.validation_statuses: list[str] = ["VALIDATING", "VALIDATED"]
        self.run_statuses: list[str] = ["RUNNING", "RUNNING", "SUCCESS"]
        self.requests: list[RecordedRequest] = []
        self.files: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.deleted_models: list[str] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> FakeMistral:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-mistral", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- what tests read ---------------------------------------------------------

    def requests_to(self, path_prefix: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(path_prefix) and method in (None, r.method)]

    # -- routing -----------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        with self._lock:
            self.requests.append(request)
            if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
                return 401, {}, {"message": "Unauthorized", "request_id": uuid.uuid4().hex}
            return self._route(request)

    def _route(self, request: RecordedRequest) -> tuple[int, dict[str, str], Any]:
        method, path = request.method, request.path.split("?")[0]
        if method == "POST" and path == "/v1/chat/completions":
            return self._chat(request.json)
        if method == "POST" and path == "/v1/files":
            return self._upload(request.form)
        if method == "DELETE" and path.startswith("/v1/models/"):
            return self._delete_model(path.removeprefix("/v1/models/"))
        if path.startswith("/v1/fine_tuning/jobs"):
            if self.fine_tuning_status is not None:
                return self.fine_tuning_status, {}, _error_body(self.fine_tuning_status, request.json)
            parts = path.removeprefix("/v1/fine_tuning/jobs").strip("/").split("/")
            if method == "POST" and parts == [""]:
                return self._create_job(request.json)
            job = self.jobs.get(parts[0])
            if job is None:
                return 404, {}, {"detail": f"job {parts[0]} not found"}
            if method == "GET" and len(parts) == 1:
                return self._poll(job)
            if method == "POST" and parts[1:] == ["start"]:
                job["started"] = True
                job["status"] = "STARTED"
                return 200, {}, _public(job)
            if method == "POST" and parts[1:] == ["cancel"]:
                job["status"] = "CANCELLATION_REQUESTED"
                return 200, {}, _public(job)
        return 404, {}, {"detail": f"no route for {method} {path}"}

    def _chat(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if self.chat_failures:
            status = self.chat_failures.pop(0)
            headers = {"Retry-After": self.retry_after} if self.retry_after is not None else {}
            return status, headers, _error_body(status)
        prompt_tokens, completion_tokens = self.chat_usage
        return 200, {}, {
            "id": uuid.uuid4().hex,
            "object": "chat.completion",
            "model": body["model"],
            "created": int(time.time()),
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": self.chat_reply(body), "tool_calls": None},
                }
            ],
        }

    def _upload(self, form: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        filename, content = form["file"]
        file_id = str(uuid.uuid4())
        self.files[file_id] = {"filename": filename, "content": content, "purpose": form.get("purpose")}
        return 200, {}, {
            "id": file_id,
            "object": "file",
            "bytes": len(content),
            "created_at": int(time.time()),
            "filename": filename,
            "purpose": form.get("purpose") or "fine-tune",
            "sample_type": "instruct",
            "source": "upload",
            "num_lines": content.count(b"\n"),
        }

    def _create_job(self, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        job_id = str(uuid.uuid4())
        now = int(time.time())
        self.jobs[job_id] = {
            "request": body,
            "started": False,
            "validation": list(self.validation_statuses),
            "run": list(self.run_statuses),
            "checkpoints": [],
            "id": job_id,
            "auto_start": body.get("auto_start", False),
            "model": body["model"],
            "status": "QUEUED",
            "job_type": "completion",
            "created_at": now,
            "modified_at": now,
            "training_files": [item["file_id"] for item in body.get("training_files", [])],
            "validation_files": body.get("validation_files"),
            "hyperparameters": body["hyperparameters"],
            "suffix": body.get("suffix"),
            "fine_tuned_model": None,
            "trained_tokens": None,
            "integrations": [
                {key: value for key, value in item.items() if key != "api_key"}
                for item in body.get("integrations") or []
            ],
            "object": "job",
        }
        return 200, {}, _public(self.jobs[job_id])

    def _poll(self, job: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
        if job["status"] == "CANCELLATION_REQUESTED":
            job["status"] = "CANCELLED"
        elif job["status"] not in ("SUCCESS", "FAILED", "CANCELLED"):
            queue = job["run"] if job["started"] else job["validation"]
            if queue:
                job["status"] = queue.pop(0) if len(queue) > 1 else queue[0]
            if job["status"] == "RUNNING":
                step = len(job["checkpoints"]) + 1
                job["checkpoints"].append(
                    {"metrics": {"train_loss": 2.0 / step, "valid_loss": 2.2 / step}, "step_number": step * 10,
                     "created_at": int(time.time())}
                )
            if job["status"] == "SUCCESS":
                suffix = job["suffix"] or "ftloop"
                job["fine_tuned_model"] = f"ft:{job['model']}:{suffix}:{job['id'][:8]}"
                job["trained_tokens"] = 123_456
                job["metadata"] = {"cost": 0.42, "cost_currency": "USD"}
        job["modified_at"] = int(time.time())
        return 200, {}, _public(job)

    def _delete_model(self, model_id: str) -> tuple[int, dict[str, str], Any]:
        known = {job["fine_tuned_model"] for job in self.jobs.values()}
        if model_id not in known:
            return 404, {}, {"detail": f"model {model_id} not found"}
        self.deleted_models.append(model_id)
        return 200, {}, {"id": model_id, "object": "model", "deleted": True}


_PRIVATE_JOB_KEYS = ("request", "started", "validation", "run")


def _public(job: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in job.items() if key not in _PRIVATE_JOB_KEYS}


def _error_body(status: int, request_json: Any = None) -> dict[str, Any]:
    """Mistral's error object; a 422 is a validation error that echoes the request, as FastAPI's do."""
    if status == 422:
        return {"detail": [{"loc": ["body", "model"], "msg": "Model cannot be fine-tuned.", "type": "value_error",
                            "input": request_json}]}
    messages = {410: "Fine-tuning is not available for this account.", 429: "Requests rate limit exceeded"}
    return {"object": "error", "message": messages.get(status, "Internal server error"), "type": "fake",
            "param": None, "code": str(status)}


class _Handler(BaseHTTPRequestHandler):
    fake: FakeMistral
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and body:
            request.json = json.loads(body)
        elif content_type.startswith("multipart/form-data"):
            request.form = _parse_multipart(content_type, body)
        status, headers, payload = self.fake.handle(request)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        return None


def _parse_multipart(content_type: str, body: bytes) -> dict[str, Any]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        form[name] = (filename, payload) if filename is not None else payload.decode()
    return form


@pytest.fixture
def fake_mistral() -> Iterator[FakeMistral]:
    """A started fake that expects FAKE_API_KEY; stopped after the test."""
    fake = FakeMistral().start()
    yield fake
    fake.stop()
