"""What every Mistral caller shares: the client, prices, a per-run budget, a cost ledger, retries.

The teacher (tasks/hidden_params/teacher/mistral.py), the remote predictor (infer/remote.py)
and the managed fine-tuning backend (train/mistral_ft.py) all talk to Mistral
through the real ``mistralai`` SDK. Retries live here rather than in the SDK
(whose own retries are switched off) so that one policy, with jitter and
Retry-After, covers every call and can be tested with an injected ``sleep``.

Secrets (DESIGN §9): the API key goes into the client and nowhere else. The
SDK's debug logger, which would print request headers, is replaced by a silent
one, and every message built from a service answer passes through ``redact``.
"""

from __future__ import annotations

import email.utils
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from mistralai.client import Mistral

T = TypeVar("T")

API_KEY_ENV = "MISTRAL_API_KEY"
SERVER_URL_ENV = "MISTRAL_SERVER_URL"
DEFAULT_TIMEOUT_MS = 60_000

# USD per million tokens, keyed like a response's usage (and CostModel.api).
# Plausible public list prices from mistral.ai/pricing (late 2025 / 2026); they
# change without notice, so callers that need exact bills pass their own table.
DEFAULT_PRICES: dict[str, dict[str, float]] = {
    "mistral-large-latest": {"prompt_tokens": 0.50, "completion_tokens": 1.50},
    "mistral-small-latest": {"prompt_tokens": 0.10, "completion_tokens": 0.30},
    "ministral-3b-latest": {"prompt_tokens": 0.10, "completion_tokens": 0.10},
    "ministral-8b-latest": {"prompt_tokens": 0.15, "completion_tokens": 0.15},
    "open-mistral-nemo": {"prompt_tokens": 0.15, "completion_tokens": 0.15},
}
PriceTable = Mapping[str, Mapping[str, float]]

LEDGER_KINDS = ("teacher", "inference", "training")
REDACTED = "[redacted]"
# Environment variables whose values must never appear in a message we build.
_SECRET_ENVS = (API_KEY_ENV, "WANDB_API_KEY", "HF_TOKEN")
_MIN_SECRET_LENGTH = 6  # shorter values would redact ordinary words
_DETAIL_CHARS = 300


# -- client -------------------------------------------------------------------


class _SilentLogger:
    """Replaces the SDK's debug logger, which logs request headers (the bearer token) under MISTRAL_DEBUG."""

    def debug(self, msg: str, *args: Any, **kwargs: Any) -> None:
        return None


def make_client(api_key: str, server_url: str | None = None, timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Mistral:
    """A ``mistralai`` client; ``server_url`` points it elsewhere than api.mistral.ai (tests: a local fake).

    The SDK's own retries are off (``retry_config=None``): ``call_with_retry`` owns the policy.
    """
    if not api_key:
        raise ValueError(f"a Mistral API key is required; set {API_KEY_ENV}")
    from mistralai.client import Mistral

    return Mistral(
        api_key=api_key,
        server_url=server_url or None,
        timeout_ms=timeout_ms,
        retry_config=None,
        debug_logger=_SilentLogger(),
    )


def _env_value(name: str) -> str | None:
    """NAME, or the contents of the file NAME_FILE names (Docker secrets), as the web app reads them."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ValueError(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from None
    return os.environ.get(name) or None


def api_key_from_env() -> str:
    """MISTRAL_API_KEY (or MISTRAL_API_KEY_FILE); a ValueError naming the variable when unset."""
    key = _env_value(API_KEY_ENV)
    if not key:
        raise ValueError(f"{API_KEY_ENV} is not set; the Mistral teacher, remote predictor and fine-tuning need it")
    return key


def client_from_env(timeout_ms: int = DEFAULT_TIMEOUT_MS) -> Mistral:
    """A client from MISTRAL_API_KEY and the optional MISTRAL_SERVER_URL."""
    return make_client(api_key_from_env(), os.environ.get(SERVER_URL_ENV) or None, timeout_ms)


def client_api_key(client: Any) -> str | None:
    """The key a client was built with, so messages about its calls can be redacted."""
    security = getattr(getattr(client, "sdk_configuration", None), "security", None)
    key = getattr(security, "api_key", None)
    return key if isinstance(key, str) else None


def answer_text(response: Any) -> str:
    """The assistant's text of a chat completion exactly as sent (chunked content joined); "" when none."""
    content = response.choices[0].message.content if response.choices else None
    if isinstance(content, list):
        content = "".join(getattr(chunk, "text", "") or "" for chunk in content)
    return content if isinstance(content, str) else ""


# -- prices ---------------------------------------------------------------------


def prices_for(model: str, prices: PriceTable = DEFAULT_PRICES) -> dict[str, float] | None:
    """The price row of a model; a fine-tuned ``ft:<base>:...`` model costs what its base costs; None if unknown."""
    if model in prices:
        return dict(prices[model])
    if model.startswith("ft:"):
        base = model.split(":")[1]
        if base in prices:
            return dict(prices[base])
    return None


def usage_usd(usage: Mapping[str, int], model: str, prices: PriceTable = DEFAULT_PRICES) -> float | None:
    """Dollars for one call's usage; None when the model has no price."""
    row = prices_for(model, prices)
    if row is None:
        return None
    return sum(usage.get(key, 0) * price for key, price in row.items()) / 1_000_000


def usage_tokens(usage: Mapping[str, int]) -> int:
    """Prompt plus completion tokens of one call, what a token budget counts."""
    return int(usage.get("prompt_tokens", 0)) + int(usage.get("completion_tokens", 0))


# -- budget -----------------------------------------------------------------------


class BudgetExhausted(Exception):
    """The run's budget is spent; ``reason`` is a sentence for the run's log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Budget:
    """A per-run cap on API spending, in tokens and/or USD (DESIGN §9).

    Semantics: the budget is exhausted once spending *reaches* a limit
    (spent >= max). ``check()``, called before a request, raises
    BudgetExhausted when it is exhausted. ``charge()``, called after a request,
    records what it cost (those tokens are paid whatever happens) and raises
    BudgetExhausted when this request exhausted it: the caller keeps the answer
    it paid for and makes no further request. A run therefore overshoots a
    limit by at most the requests already in flight (one per worker thread).
    Thread-safe.
    """

    def __init__(
        self, max_tokens: int | None = None, max_usd: float | None = None, prices: PriceTable = DEFAULT_PRICES
    ) -> None:
        if max_tokens is not None and max_tokens < 0:
            raise ValueError(f"max_tokens must not be negative, got {max_tokens}")
        if max_usd is not None and max_usd < 0:
            raise ValueError(f"max_usd must not be negative, got {max_usd}")
        self.max_tokens = max_tokens
        self.max_usd = max_usd
        self.prices = prices
        self.spent_tokens = 0
        self.spent_usd = 0.0
        self._lock = threading.Lock()

    def can_price(self, model: str) -> bool:
        """Whether a USD limit can be enforced for `model` (always true without one)."""
        return self.max_usd is None or prices_for(model, self.prices) is not None

    def exhausted_reason(self) -> str | None:
        """Why no further request may be made, or None while there is budget left."""
        with self._lock:
            return self._reason()

    def _reason(self) -> str | None:
        if self.max_usd is not None and self.spent_usd >= self.max_usd:
            return f"budget exhausted: spent ${self.spent_usd:.6f} of the ${self.max_usd:.6f} allowed"
        if self.max_tokens is not None and self.spent_tokens >= self.max_tokens:
            return f"budget exhausted: used {self.spent_tokens} of the {self.max_tokens} tokens allowed"
        return None

    def check(self) -> None:
        """Raise BudgetExhausted when no further request may be made."""
        reason = self.exhausted_reason()
        if reason:
            raise BudgetExhausted(reason)

    def charge(self, usage: Mapping[str, int], model: str) -> float | None:
        """Record a finished request; its dollars (None without a price); BudgetExhausted if it spent the rest."""
        usd = usage_usd(usage, model, self.prices)
        if usd is None and self.max_usd is not None:
            raise ValueError(f"no price for {model!r}, so a USD budget cannot be enforced; pass a price table")
        with self._lock:
            self.spent_tokens += usage_tokens(usage)
            self.spent_usd += usd or 0.0
            reason = self._reason()
        if reason:
            raise BudgetExhausted(reason)
        return usd


# -- cost ledger ----------------------------------------------------------------------


@dataclass(frozen=True)
class CostEntry:
    """One paid event; ``usd`` is None when no price was known (shown as "unknown", never as 0)."""

    kind: str  # "teacher", "inference" or "training"
    model: str
    prompt_tokens: int
    completion_tokens: int
    usd: float | None
    at: str  # ISO 8601, UTC


class CostLedger:
    """Append-only record of what a loop spent on Mistral (DESIGN §8: teacher tokens, training, inference).

    Thread-safe, since the teacher writes from several threads. ``to_rows`` is
    what the web app stores.
    """

    def __init__(self, prices: PriceTable = DEFAULT_PRICES) -> None:
        self.prices = prices
        self._entries: list[CostEntry] = []
        self._lock = threading.Lock()

    def record(
        self, kind: str, model: str, usage: Mapping[str, int] | None = None, *, usd: float | None = None
    ) -> CostEntry:
        """Append an entry; ``usd`` defaults to the usage priced from the table."""
        if kind not in LEDGER_KINDS:
            raise ValueError(f"ledger kind must be one of {', '.join(LEDGER_KINDS)}, got {kind!r}")
        usage = usage or {}
        entry = CostEntry(
            kind=kind,
            model=model,
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            usd=usd if usd is not None else usage_usd(usage, model, self.prices),
            at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        )
        with self._lock:
            self._entries.append(entry)
        return entry

    @property
    def entries(self) -> tuple[CostEntry, ...]:
        with self._lock:
            return tuple(self._entries)

    def total_usd(self, kind: str | None = None) -> float:
        """Dollars of the entries with a known price (of one kind, or all)."""
        return sum(entry.usd for entry in self.entries if entry.usd is not None and kind in (None, entry.kind))

    def to_rows(self) -> list[dict[str, Any]]:
        return [asdict(entry) for entry in self.entries]


# -- errors and retries ------------------------------------------------------------------


class MistralAPIError(RuntimeError):
    """A failed Mistral call, with a message safe to show and store (status, operation, short reason)."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def status_code_of(exc: BaseException) -> int | None:
    """The HTTP status of an SDK error (``MistralError.status_code``); None for other exceptions."""
    from mistralai.client.errors import MistralError

    return exc.status_code if isinstance(exc, MistralError) else None


def is_retryable(exc: BaseException) -> bool:
    """429, any 5xx, and transport failures (connection refused/reset, timeouts, no response)."""
    import httpx
    from mistralai.client.errors import NoResponseError

    status = status_code_of(exc)
    if status is not None:
        return status == 429 or 500 <= status < 600
    return isinstance(exc, (httpx.TransportError, NoResponseError))


def is_api_failure(exc: BaseException) -> bool:
    """Whether `exc` is the service's or the network's doing (SDK error, no response, httpx error), not a bug."""
    import httpx
    from mistralai.client.errors import MistralError, NoResponseError

    return isinstance(exc, (MistralError, NoResponseError, httpx.HTTPError))


def api_error(exc: BaseException, prefix: str, secrets: Iterable[str | None] = ()) -> MistralAPIError:
    """A MistralAPIError "<prefix>: HTTP 503: ..." for a failed call, redacted, keeping its status."""
    return MistralAPIError(f"{prefix}: {describe_error(exc, secrets)}", status_code_of(exc))


def retry_after_s(exc: BaseException) -> float | None:
    """The Retry-After of an error response in seconds (delta-seconds or HTTP-date), None when absent."""
    headers = getattr(exc, "headers", None)
    value = headers.get("retry-after") if headers is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def backoff_delay(
    attempt: int, base_delay_s: float, max_delay_s: float, rng: random.Random | None = None
) -> float:
    """Exponential backoff with equal jitter: half of base * 2**attempt, plus up to the other half at random.

    Jitter spreads the retries of concurrent workers that were throttled together.
    """
    ceiling = min(max_delay_s, base_delay_s * 2**attempt)
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with the given secrets and the values of MISTRAL_API_KEY, WANDB_API_KEY, HF_TOKEN (or *_FILE) replaced."""
    values = {value for value in secrets if value}
    for name in _SECRET_ENVS:
        try:
            values.add(_env_value(name) or "")
        except ValueError:  # an unreadable NAME_FILE holds nothing to leak
            continue
    for value in sorted((v for v in values if len(v) >= _MIN_SECRET_LENGTH), key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text


def _service_detail(body: str) -> str:
    """The service's own short reason from an error body; validation details keep only their "msg" parts,
    since their "input" echoes the request (which may hold a W&B key)."""
    try:
        payload = json.loads(body)
    except (TypeError, ValueError):
        return body.strip()
    if isinstance(payload, dict):
        detail = payload.get("detail", payload.get("message"))
        if isinstance(detail, list):
            return "; ".join(str(item.get("msg", "")) for item in detail if isinstance(item, dict))
        if isinstance(detail, (str, dict)):
            return detail if isinstance(detail, str) else str(detail.get("msg", detail.get("message", "")))
    return ""


def describe_error(exc: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """A one-line, redacted description of a failed call: "HTTP 429: Requests rate limit exceeded"."""
    status = status_code_of(exc)
    if status is not None:
        detail = _service_detail(getattr(exc, "body", "") or "")[:_DETAIL_CHARS]
        text = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return redact(text, secrets)


def call_with_retry(
    fn: Callable[[], T],
    *,
    max_retries: int = 4,
    base_delay_s: float = 1.0,
    max_delay_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str], None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """``fn()``, retried up to ``max_retries`` times on 429, 5xx and transport errors.

    The wait is the response's Retry-After when it sends one, else exponential
    backoff with jitter; either is capped at ``max_delay_s`` so a bad header
    cannot park a worker for hours. Other errors, and the last failure, are
    raised unchanged. ``on_retry`` gets one redacted line per retry for the run's log.
    """
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as exc:
            if attempt >= max_retries or not is_retryable(exc):
                raise
            told = retry_after_s(exc)
            if told is not None:
                delay = min(max_delay_s, told)
            else:
                delay = backoff_delay(attempt, base_delay_s, max_delay_s, rng)
            attempt += 1
            if on_retry:
                on_retry(f"Mistral call failed ({describe_error(exc)}); retry {attempt}/{max_retries} in {delay:.1f} s")
            sleep(delay)


def chat_complete(
    client: Mistral,
    prefix: str,
    *,
    max_retries: int = 4,
    base_delay_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
    on_retry: Callable[[str], None] | None = None,
    **request: Any,
) -> tuple[Any, dict[str, int]]:
    """One ``client.chat.complete(**request)`` under ``call_with_retry``: (response, its token usage).

    API failures (after retries) become a MistralAPIError whose message starts
    with ``prefix`` and carries no API key; other errors are raised unchanged.
    """
    try:
        response = call_with_retry(
            lambda: client.chat.complete(**request),
            max_retries=max_retries,
            base_delay_s=base_delay_s,
            sleep=sleep,
            on_retry=on_retry,
        )
    except Exception as exc:
        if not is_api_failure(exc):
            raise
        raise api_error(exc, prefix, [client_api_key(client)]) from None
    usage = {
        "prompt_tokens": response.usage.prompt_tokens or 0,
        "completion_tokens": response.usage.completion_tokens or 0,
    }
    return response, usage
