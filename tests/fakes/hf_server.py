"""A fake Hugging Face Hub + Jobs server on 127.0.0.1, for tests that drive the real ``huggingface_hub`` SDK.

It speaks just the endpoints ftloop uses, in the shapes the installed SDK (2.4)
sends and parses:

- ``GET /api/whoami-v2``; ``POST /api/repos/create``; ``POST /api/validate-yaml`` (a README in a commit); repo info
  (``GET /api/{type}s/{repo}[/revision/{rev}]``) and tree listing (``GET /api/{type}s/{repo}/tree/{rev}``);
- ``POST /api/{type}s/{repo}/preupload/{rev}`` (every file is ``regular``: sent inline, base64, in the commit)
  and ``POST /api/{type}s/{repo}/commit/{rev}`` (NDJSON); ``HEAD``/``GET`` ``/[datasets/]{repo}/resolve/{rev}/{path}``
  with ``X-Repo-Commit`` and ``ETag``;
- buckets, which ``run_uv_job`` uses to ship a local script: ``POST /api/buckets/{id}``,
  ``GET /api/buckets/{id}/xet-write-token`` and ``POST /api/buckets/{id}/batch``, plus the few Xet CAS calls
  ``hf_xet`` makes to store the bytes (``/cas/v1/...``: accepted and kept, not decoded);
- Jobs: ``POST /api/jobs/{ns}`` (create), ``GET /api/jobs/{ns}/{id}`` (inspect), ``POST .../cancel`` and
  ``GET .../logs`` (server-sent events).

A job follows a ``JobPlan``: each inspect moves it one stage on, its log lines
appear as it goes, and on ``COMPLETED`` it commits ``plan.adapter_files`` to
the repo named by ``--push-to-hub`` in its command, as the real script would.
Every request is recorded (headers included) for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

FAKE_USER = "ftloop-tester"
FAKE_TOKEN = "hf_FakeTokenForTests0123456789abcdef"
XET_ACCESS_TOKEN = "xet-fake-access-token"
TERMINAL_STAGES = ("COMPLETED", "CANCELED", "ERROR", "DELETED")


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class JobPlan:
    """What the next submitted job does: the stages it reports on successive inspects, its logs, its end."""

    stages: tuple[str, ...] = ("SCHEDULING", "RUNNING", "RUNNING", "COMPLETED")
    logs: tuple[str, ...] = ("base model HuggingFaceTB/SmolLM2-135M-Instruct", "step 1/2 loss=1.5",
                             "step 2/2 loss=1.25 eval_loss=1.4", "adapter saved")
    message: str | None = None
    adapter_files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass
class FakeJob:
    id: str
    namespace: str
    spec: dict[str, Any]
    plan: JobPlan
    created_at: str
    position: int = 0
    cancelled: bool = False
    logs: list[tuple[str, str]] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return "CANCELED" if self.cancelled else self.plan.stages[self.position]

    def argument(self, flag: str) -> str | None:
        command = self.spec.get("command") or []
        return command[command.index(flag) + 1] if flag in command[:-1] else None


@dataclass
class FakeRepo:
    repo_type: str
    repo_id: str
    private: bool
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    head: str = ""

    def snapshot(self, revision: str) -> dict[str, bytes] | None:
        return self.commits.get(self.head if revision == "main" else revision)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def _json(payload: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(payload).encode(), {"Content-Type": "application/json", **(headers or {})})


def _error(status: int, message: str, code: str | None = None) -> Response:
    return _json({"error": message}, status, {"X-Error-Code": code} if code else None)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_blob_oid(content: bytes) -> str:
    """The git blob id the Hub reports for a regular file (and the SDK computes to skip unchanged ones)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class FakeHub:
    """The server and its state. Use as a context manager, or through the ``fake_hub`` fixture."""

    def __init__(self, user: str = FAKE_USER, token: str = FAKE_TOKEN) -> None:
        self.user = user
        self.token = token
        self.repos: dict[tuple[str, str], FakeRepo] = {}
        self.buckets: dict[str, dict[str, dict[str, Any]]] = {}
        self.cas_objects: dict[str, bytes] = {}
        self.jobs: dict[str, FakeJob] = {}
        self.requests: list[RecordedRequest] = []
        self.job_plan = JobPlan()
        self._failures: list[list[Any]] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-hf-hub", daemon=True)
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Response]]] = [
            (method, re.compile(pattern), handler) for method, pattern, handler in self._route_table()
        ]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeHub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test helpers -------------------------------------------------------------------------------------------

    def files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        """A repo's files at a revision (empty when the repo or revision does not exist)."""
        repo = self.repos.get((repo_type, repo_id))
        return dict(repo.snapshot(revision) or {}) if repo else {}

    def requests_to(self, pattern: str, method: str | None = None) -> list[RecordedRequest]:
        """Recorded requests whose path matches a regex (searched, not anchored)."""
        return [r for r in self.requests if re.search(pattern, r.path) and (method is None or r.method == method)]

    def fail_next(self, method: str, pattern: str, status: int = 503, times: int = 1) -> None:
        """Answer the next ``times`` matching requests with ``status`` (a flaky Hub)."""
        self._failures.append([method, re.compile(pattern), status, times])

    # -- dispatch ---------------------------------------------------------------------------------------------------

    def handle(self, request: RecordedRequest) -> Response:
        with self._lock:
            self.requests.append(request)
            for failure in self._failures:
                method, pattern, status, times = failure
                if times > 0 and method == request.method and pattern.search(request.path):
                    failure[3] -= 1
                    return _error(status, "injected failure")
        for method, pattern, handler in self._routes:
            if method == request.method or (method == "GET" and request.method == "HEAD"):
                match = pattern.fullmatch(request.path)
                if match:
                    if not pattern.pattern.startswith("/cas/") and not self._authorized(request):
                        return _error(401, "Invalid credentials in Authorization header")
                    with self._lock:
                        return handler(request, **{k: unquote(v) for k, v in match.groupdict().items()})
        return _error(404, f"fake hub: no route for {request.method} {request.path}")

    def _authorized(self, request: RecordedRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def _route_table(self) -> list[tuple[str, str, Callable[..., Response]]]:
        repo = r"(?P<repo_type>model|dataset|space)s/(?P<repo_id>[^/]+/[^/]+)"
        job = r"/api/jobs/(?P<namespace>[^/]+)/(?P<job_id>[^/]+)"
        bucket = r"/api/buckets/(?P<bucket_id>[^/]+/[^/]+)"
        return [
            ("GET", r"/api/whoami-v2", self._whoami),
            ("POST", r"/api/repos/create", self._create_repo),
            ("POST", r"/api/validate-yaml", self._validate_yaml),
            ("POST", rf"/api/{repo}/preupload/(?P<revision>[^/]+)", self._preupload),
            ("POST", rf"/api/{repo}/commit/(?P<revision>[^/]+)", self._commit_route),
            ("GET", rf"/api/{repo}/tree/(?P<revision>[^/]+)", self._tree),
            ("GET", rf"/api/{repo}(?:/revision/(?P<revision>[^/]+))?", self._repo_info),
            ("GET", r"/datasets/(?P<repo_id>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)",
             self._resolve_dataset),
            ("GET", r"/(?P<repo_id>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<path>.+)", self._resolve_model),
            ("POST", bucket, self._create_bucket),
            ("GET", rf"{bucket}/xet-write-token", self._xet_token),
            ("POST", rf"{bucket}/batch", self._bucket_batch),
            ("GET", r"/cas/v1/chunks/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]+)", self._cas_chunk),
            ("POST", r"/cas/v1/xorbs/(?P<prefix>[^/]+)/(?P<hash>[0-9a-f]+)", self._cas_xorb),
            ("POST", r"/cas/v1/shards", self._cas_shard),
            ("POST", r"/api/jobs/(?P<namespace>[^/]+)", self._create_job),
            ("GET", job, self._inspect_job),
            ("POST", rf"{job}/cancel", self._cancel_job),
            ("GET", rf"{job}/logs", self._job_logs),
        ]

    # -- hub: repos -------------------------------------------------------------------------------------------------

    def _whoami(self, request: RecordedRequest) -> Response:
        return _json({"type": "user", "id": "fake-user-id", "name": self.user, "fullname": "ftloop tester",
                      "orgs": [], "auth": {"type": "access_token", "accessToken": {"role": "write"}}})

    def _validate_yaml(self, request: RecordedRequest) -> Response:
        return _json({"errors": [], "warnings": []})

    def _repo_url(self, repo_type: str, repo_id: str) -> str:
        return f"{self.url}/{repo_id}" if repo_type == "model" else f"{self.url}/{repo_type}s/{repo_id}"

    def _ensure_repo(self, repo_type: str, repo_id: str, private: bool) -> FakeRepo:
        key = (repo_type, repo_id)
        if key not in self.repos:
            self.repos[key] = FakeRepo(repo_type, repo_id, private)
            # The Hub seeds every new repo with a first commit holding .gitattributes.
            self._commit(self.repos[key], {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"},
                         ())
        return self.repos[key]

    def _commit(self, repo: FakeRepo, added: dict[str, bytes], deleted: tuple[str, ...]) -> str:
        files = dict(repo.snapshot("main") or {})
        for path in deleted:
            files.pop(path, None)
        files.update(added)
        oid = hashlib.sha1(f"{repo.repo_id}:{next(self._ids)}".encode()).hexdigest()
        repo.commits[oid] = files
        repo.head = oid
        return oid

    def _create_repo(self, request: RecordedRequest) -> Response:
        payload = request.json()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or self.user}/{payload['name']}"
        url = self._repo_url(repo_type, repo_id)
        if (repo_type, repo_id) in self.repos:
            return _json({"error": f"You already created this {repo_type} repo", "url": url}, 409)
        self._ensure_repo(repo_type, repo_id, payload.get("visibility", "public") == "private")
        return _json({"url": url, "name": repo_id, "id": f"{repo_type}-{repo_id}"})

    def _repo_or_404(self, repo_type: str, repo_id: str) -> FakeRepo | Response:
        repo = self.repos.get((repo_type, repo_id))
        return repo if repo is not None else _error(404, "Repository not found", "RepoNotFound")

    def _repo_info(self, request: RecordedRequest, repo_type: str, repo_id: str,
                   revision: str | None = None) -> Response:
        repo = self._repo_or_404(repo_type, repo_id)
        if isinstance(repo, Response):
            return repo
        files = repo.snapshot(revision or "main")
        if files is None:
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        sha = repo.head if (revision or "main") == "main" else revision
        return _json({"id": repo_id, "author": repo_id.split("/")[0], "sha": sha, "private": repo.private,
                      "lastModified": _now(), "siblings": [{"rfilename": path} for path in sorted(files)]})

    def _tree(self, request: RecordedRequest, repo_type: str, repo_id: str, revision: str) -> Response:
        repo = self._repo_or_404(repo_type, repo_id)
        if isinstance(repo, Response):
            return repo
        files = repo.snapshot(revision)
        if files is None:
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return _json([{"type": "file", "path": path, "size": len(content), "oid": git_blob_oid(content)}
                      for path, content in sorted(files.items())])

    def _preupload(self, request: RecordedRequest, repo_type: str, repo_id: str, revision: str) -> Response:
        repo = self._repo_or_404(repo_type, repo_id)
        if isinstance(repo, Response):
            return repo
        current = repo.snapshot("main") or {}
        return _json({"files": [
            {"path": item["path"], "uploadMode": "regular", "shouldIgnore": False,
             "oid": git_blob_oid(current[item["path"]]) if item["path"] in current else None}
            for item in request.json()["files"]
        ]})

    def _commit_route(self, request: RecordedRequest, repo_type: str, repo_id: str, revision: str) -> Response:
        repo = self._repo_or_404(repo_type, repo_id)
        if isinstance(repo, Response):
            return repo
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in request.body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                added[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
            elif item["key"] == "deletedFile":
                deleted.append(item["value"]["path"])
            elif item["key"] != "header":
                return _error(400, f"fake hub: {item['key']} is not supported (every upload is regular)")
        oid = self._commit(repo, added, tuple(deleted))
        return _json({"success": True, "commitOid": oid,
                      "commitUrl": f"{self._repo_url(repo_type, repo_id)}/commit/{oid}"})

    def _resolve_dataset(self, request: RecordedRequest, repo_id: str, revision: str, path: str) -> Response:
        return self._resolve(request, "dataset", repo_id, revision, path)

    def _resolve_model(self, request: RecordedRequest, repo_id: str, revision: str, path: str) -> Response:
        return self._resolve(request, "model", repo_id, revision, path)

    def _resolve(self, request: RecordedRequest, repo_type: str, repo_id: str, revision: str, path: str) -> Response:
        repo = self._repo_or_404(repo_type, repo_id)
        if isinstance(repo, Response):
            return repo
        files = repo.snapshot(revision)
        if files is None:
            return _error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        sha = repo.head if revision == "main" else revision
        if path not in files:
            response = _error(404, "Entry not found", "EntryNotFound")
            response.headers["X-Repo-Commit"] = sha
            return response
        content = files[path]
        return Response(200, content, {"Content-Type": "application/octet-stream", "X-Repo-Commit": sha,
                                       "ETag": f'"{git_blob_oid(content)}"'})

    # -- hub: buckets and Xet storage (run_uv_job ships a local script this way) -----------------------------------

    def _create_bucket(self, request: RecordedRequest, bucket_id: str) -> Response:
        url = f"{self.url}/buckets/{bucket_id}"
        if bucket_id in self.buckets:
            return _json({"error": "Bucket already exists", "url": url}, 409)
        self.buckets[bucket_id] = {}
        return _json({"url": url, "id": bucket_id})

    def _xet_token(self, request: RecordedRequest, bucket_id: str) -> Response:
        expires = int(time.time()) + 3600
        cas_url = f"{self.url}/cas"
        return _json({"accessToken": XET_ACCESS_TOKEN, "exp": expires, "casUrl": cas_url},
                     headers={"X-Xet-Cas-Url": cas_url, "X-Xet-Access-Token": XET_ACCESS_TOKEN,
                              "X-Xet-Token-Expiration": str(expires)})

    def _bucket_batch(self, request: RecordedRequest, bucket_id: str) -> Response:
        if bucket_id not in self.buckets:
            return _error(404, "Bucket not found", "RepoNotFound")
        for line in request.body.splitlines():
            item = json.loads(line)
            if item["type"] == "addFile":
                self.buckets[bucket_id][item["path"]] = item
        return _json({"failed": []})

    def _cas_authorized(self, request: RecordedRequest) -> bool:
        return request.headers.get("authorization") == f"Bearer {XET_ACCESS_TOKEN}"

    def _cas_chunk(self, request: RecordedRequest, prefix: str, hash: str) -> Response:
        return _error(404, "chunk not tracked by global deduplication")

    def _cas_xorb(self, request: RecordedRequest, prefix: str, hash: str) -> Response:
        if not self._cas_authorized(request):
            return _error(401, "bad xet token")
        inserted = hash not in self.cas_objects
        self.cas_objects[hash] = request.body
        return _json({"was_inserted": inserted})

    def _cas_shard(self, request: RecordedRequest) -> Response:
        if not self._cas_authorized(request):
            return _error(401, "bad xet token")
        self.cas_objects[f"shard-{len(self.cas_objects)}"] = request.body
        return _json({"result": 1})

    # -- jobs -----------------------------------------------------------------------------------------------------

    def _job_info(self, job: FakeJob) -> dict[str, Any]:
        spec = job.spec
        return {
            "id": job.id, "createdAt": job.created_at, "dockerImage": spec.get("dockerImage"),
            "spaceId": spec.get("spaceId"), "command": spec.get("command"), "arguments": spec.get("arguments"),
            "environment": spec.get("environment"), "flavor": spec.get("flavor"), "labels": spec.get("labels"),
            "volumes": spec.get("volumes"),
            # The Hub never echoes secret values.
            "secrets": {name: None for name in spec.get("secrets") or {}},
            "status": {"stage": job.stage, "message": job.plan.message if job.stage in TERMINAL_STAGES else None},
            "owner": {"id": "fake-user-id", "name": job.namespace, "type": "user"},
        }

    def _create_job(self, request: RecordedRequest, namespace: str) -> Response:
        job_id = hashlib.sha1(f"job-{next(self._ids)}".encode()).hexdigest()[:24]
        job = FakeJob(job_id, namespace, request.json(), self.job_plan, _now())
        self.jobs[job_id] = job
        self._reveal_logs(job)
        return _json(self._job_info(job))

    def _job_or_404(self, namespace: str, job_id: str) -> FakeJob | Response:
        job = self.jobs.get(job_id)
        return job if job is not None and job.namespace == namespace else _error(404, "Job not found")

    def _inspect_job(self, request: RecordedRequest, namespace: str, job_id: str) -> Response:
        job = self._job_or_404(namespace, job_id)
        if isinstance(job, Response):
            return job
        if job.stage not in TERMINAL_STAGES:
            job.position = min(job.position + 1, len(job.plan.stages) - 1)
            self._reveal_logs(job)
            if job.stage == "COMPLETED" and job.plan.adapter_files:
                model_repo = job.argument("--push-to-hub")
                if model_repo:
                    self._commit(self._ensure_repo("model", model_repo, True), dict(job.plan.adapter_files), ())
        return _json(self._job_info(job))

    def _reveal_logs(self, job: FakeJob) -> None:
        """Log lines appear in step with the stages; all of them are out once the job has ended."""
        last = len(job.plan.stages) - 1
        visible = len(job.plan.logs) if job.stage in TERMINAL_STAGES else len(job.plan.logs) * job.position // last
        while len(job.logs) < visible:
            job.logs.append((_now(), job.plan.logs[len(job.logs)]))

    def _cancel_job(self, request: RecordedRequest, namespace: str, job_id: str) -> Response:
        job = self._job_or_404(namespace, job_id)
        if isinstance(job, Response):
            return job
        if job.stage not in TERMINAL_STAGES:
            job.cancelled = True
        return Response(200)

    def _job_logs(self, request: RecordedRequest, namespace: str, job_id: str) -> Response:
        job = self._job_or_404(namespace, job_id)
        if isinstance(job, Response):
            return job
        events = [(job.created_at, f"===== Job started at {job.created_at} =====")] + list(job.logs)
        body = b"".join(b"data: " + json.dumps({"data": text, "timestamp": stamp}).encode() + b"\n\n"
                        for stamp, text in events)
        return Response(200, body, {"Content-Type": "text/event-stream"})


def _handler_for(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            parts = urlsplit(self.path)
            request = RecordedRequest(self.command, parts.path, parse_qs(parts.query),
                                      {name.lower(): value for name, value in self.headers.items()}, self._body())
            response = hub.handle(request)
            self.send_response(response.status)
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        do_GET = do_POST = do_HEAD = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A running FakeHub; the SDK is kept online for it and away from huggingface.co."""
    isolate_sdk(monkeypatch)
    with FakeHub() as hub:
        yield hub


def isolate_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let the SDK talk to a fake on loopback and to nothing else.

    Other test modules set HF_HUB_OFFLINE=1 at import, which the SDK reads
    once; and the SDK's user agent would otherwise fetch an agent registry from
    huggingface.co on first use.
    """
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(_detect_agent, "_registry", _detect_agent._EMPTY_REGISTRY)
