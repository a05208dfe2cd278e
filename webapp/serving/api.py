"""The prediction API for the game (DESIGN §3b): ``POST /api/v1/<task>/predict`` and ``.../predict/batch``.

Every call carries ``Authorization: Bearer <key>`` (an API token an engineer created; only its hash is stored).
The answer comes from the task's release in service: its checked export when it has one (an ONNX int8 head),
else the model itself, kept warm in this process (webapp.playground.inference's cache). Every response is
JSON, errors included: 400 with the field messages (an unknown task type too), 401 (no, unknown or revoked key),
413 (body too large), 429 (over the token's rate per minute), 503 (no release, or the model cannot answer).
The schema is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import enum
import logging
import time
from typing import Annotated, Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI, Schema
from ninja.errors import HttpError, ValidationError
from ninja.security import HttpBearer
from ninja.throttling import AuthRateThrottle
from pydantic import Field

from pipeline.tasks.registry import Task, get_task, task_names
from webapp.playground import inference
from webapp.serving import releases, tokens
from webapp.serving.models import ApiToken

logger = logging.getLogger(__name__)


class TokenAuth(HttpBearer):
    """The bearer key's active token. The body size is checked here too: authentication runs before the body is
    parsed, so an oversized body gets 413, not a validation error."""

    def authenticate(self, request: HttpRequest, token: str) -> ApiToken | None:
        _check_size(request)
        return tokens.authenticate(token)


def _check_size(request: HttpRequest) -> None:
    size = int(request.headers.get("Content-Length") or 0)
    if size > settings.FTLOOP_API_MAX_BODY_BYTES:
        raise HttpError(413, f"the body is {size} bytes; the limit is {settings.FTLOOP_API_MAX_BODY_BYTES}")


class TokenRate(AuthRateThrottle):
    """Each token's own rate (ApiToken.rate_per_minute), counted in the default cache (per process)."""

    scope = "api-token"

    def allow_request(self, request: HttpRequest) -> bool:
        token = getattr(request, "auth", None)
        if isinstance(token, ApiToken):
            self.num_requests, self.duration = token.rate_per_minute, 60
        return super().allow_request(request)


api = NinjaAPI(title="ftloop prediction API", version="1", urls_namespace="api", docs_url=None,
               auth=TokenAuth(), throttle=[TokenRate(f"{settings.FTLOOP_API_RATE_PER_MINUTE}/m")],
               description="Answers from the model in service for each task type. Authorization: Bearer <key>.")


@api.exception_handler(ValidationError)
def _invalid(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    where = ("body", "path", "query", "payload")  # where a field was read, not its name
    fields = [{"field": ".".join(str(part) for part in error.get("loc", ()) if part not in where),
               "message": error.get("msg", "invalid")} for error in exc.errors]
    return api.create_response(request, {"detail": "invalid request", "errors": fields}, status=400)


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return api.create_response(request, {"detail": str(exc)}, status=exc.status_code)


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    logger.exception("prediction API: %s", type(exc).__name__)
    return api.create_response(request, {"detail": "internal error; the server log has the details"}, status=500)


Text = Annotated[str, Field(min_length=1, max_length=settings.FTLOOP_PLAYGROUND_MAX_CHARS,
                            description="a player's request")]


class PredictIn(Schema):
    text: Text


class BatchIn(Schema):
    texts: list[Text] = Field(min_length=1, max_length=settings.FTLOOP_API_MAX_BATCH,
                              description="requests, answered in order")


class Answer(Schema):
    text: str
    answer: Any = Field(description="the task's parsed answer (its answer fields' values, or its label), null if invalid")
    raw: str
    valid: bool
    latency_ms: float


class PredictOut(Answer):
    task: str
    model: str
    release: int


class BatchOut(Schema):
    task: str
    model: str
    release: int
    answers: list[Answer]


class ErrorOut(Schema):
    detail: str


ERRORS = {code: ErrorOut for code in (400, 401, 413, 429, 503)}
# The task types this deployment registers, as the schema's enum of the {task} path parameter.
TaskName = enum.Enum("TaskName", {name: name for name in task_names()}, type=str)


def answer_texts(task: Task, texts: list[str]) -> tuple[Any, list[dict[str, Any]]]:
    """(the release, one answer per text) from the task's release in service; HttpError 503 without one."""
    release = releases.in_service(task.name)
    if release is None:
        raise HttpError(503, f"no model is in service for {task.name}; promote one first")
    spec = f"export:{release.export_run_id}" if release.export_run_id else release.model.spec
    try:
        answers = inference.answer_with(task, spec, texts)
    except Exception as exc:  # a model that cannot load or answer: the client may retry later
        logger.exception("prediction API: release #%s (%s) failed", release.pk, spec)
        raise HttpError(503, f"the model in service cannot answer right now ({type(exc).__name__})") from None
    return release, answers


def _answer(text: str, result: dict[str, Any]) -> dict[str, Any]:
    return {"text": text, "answer": result["parsed"], "raw": result["raw"], "valid": result["valid"],
            "latency_ms": result["latency_ms"]}


@api.post("/{task}/predict", response={200: PredictOut, **ERRORS}, summary="Answer one request")
def predict(request: HttpRequest, task: TaskName, payload: PredictIn) -> dict[str, Any]:
    started = time.perf_counter()
    release, (result,) = answer_texts(get_task(task.value), [payload.text])
    return {**_answer(payload.text, result), "task": task.value, "model": release.model.name, "release": release.pk,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


@api.post("/{task}/predict/batch", response={200: BatchOut, **ERRORS}, summary="Answer several requests")
def predict_batch(request: HttpRequest, task: TaskName, payload: BatchIn) -> dict[str, Any]:
    release, results = answer_texts(get_task(task.value), payload.texts)
    return {"task": task.value, "model": release.model.name, "release": release.pk,
            "answers": [_answer(text, result) for text, result in zip(payload.texts, results)]}


def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Any other path under /api/: JSON, never the HTML 404 page."""
    return JsonResponse({"detail": f"no API endpoint {request.path}"}, status=404)


def urlpatterns() -> list:
    """The API's URL patterns, exempt from the login redirect (the token is their login) and CSRF (no cookies)."""
    patterns, _, _ = api.urls
    for pattern in patterns:
        pattern.callback.login_required = False
    return patterns
