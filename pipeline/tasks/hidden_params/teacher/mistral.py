"""The Mistral teacher: a chat model writes the player's request for a sampled target (DESIGN §2).

It gets the same brief the template teacher follows: every salient axis
(>= 65 high, <= 35 low; ``constraints_for``) must come through, with a degree
that follows the magnitude, and nothing may leak a number, an axis name or
JSON. The model is told the qualities as everyday words (never the axis
names), so the prompt itself does not invite the leaks the filter stage drops.

``write_many`` is what generation uses: requests run concurrently (a few at a
time) and stop cleanly when the run's Budget is spent, when ``should_stop``
says so, or when the API keeps failing; the pairs already paid for are kept.
"""

from __future__ import annotations

import os
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import TYPE_CHECKING

from pipeline.mistral import (
    Budget,
    BudgetExhausted,
    CostLedger,
    MistralAPIError,
    answer_text,
    chat_complete,
    client_from_env,
)
from pipeline.tasks.hidden_params.schema import constraints_for, target_dict
from pipeline.tasks.hidden_params.teacher.base import LANGUAGES, TeacherBatch, TeacherOutput

if TYPE_CHECKING:
    from mistralai.client import Mistral

DEFAULT_TEACHER_MODEL = "mistral-large-latest"
MODEL_ENV = "FTLOOP_TEACHER_MODEL"
BUDGET_USD_ENV = "FTLOOP_TEACHER_BUDGET_USD"

TeacherItem = tuple[Mapping[str, int], str, random.Random]  # (target, language, rng), as write() takes them
ProgressCallback = Callable[[int, int], None]
LogCallback = Callable[[str], None]
StopCheck = Callable[[], bool]

# Everyday words per (axis, direction): what the model is asked to convey, never the axis name itself.
_QUALITIES = {
    ("energy", "high"): "lively, fast, driving",
    ("energy", "low"): "calm, slow, gentle",
    ("warmth", "high"): "warm, tender, cozy",
    ("warmth", "low"): "cold, distant, detached",
    ("brightness", "high"): "bright, cheerful, sunny",
    ("brightness", "low"): "dark, gloomy, somber",
    ("acousticness", "high"): "acoustic, played on real instruments",
    ("acousticness", "low"): "electronic, made with synths and drum machines",
    ("complexity", "high"): "intricate, layered, full of twists",
    ("complexity", "low"): "simple, minimal, repetitive",
    ("nostalgia", "high"): "nostalgic, retro, old-fashioned",
    ("nostalgia", "low"): "modern, fresh, futuristic",
}
# Degree words by distance from the middle, on the template teacher's levels (65-74, 75-84, >= 85).
_DEGREES = ((35, "extremely"), (25, "clearly"), (15, "a little"))
_LANGUAGE_NAMES = {"en": "English", "ja": "Japanese"}
_MAX_CHARS = {"en": 200, "ja": 100}
_TONES = ("casual", "polite", "terse", "enthusiastic", "chatty")
_SCENES = (
    "a boss fight",
    "a quiet village at night",
    "the main menu",
    "a rainy city street",
    "a racing level",
    "a small cafe",
    "the end credits",
    "exploring a cave",
    "an item shop",
    "a summer festival",
)

SYSTEM_PROMPT = (
    "You write what a player types into a video game's music request box. "
    "Write exactly one short request in the language you are given, in the tone you are given, "
    "that clearly conveys every listed quality with the given strength, using your own varied words. "
    "Do not mention anything else about the music. Never use digits, number words, percentages, scores, "
    "the words energy, warmth, brightness, acousticness, complexity or nostalgia, or any JSON or brackets. "
    "Reply with the request text only: no quotes, no explanation."
)


def _degree(value: int) -> str:
    distance = abs(value - 50)
    return next(word for threshold, word in _DEGREES if distance >= threshold)


def request_prompt(target: Mapping[str, int], language: str, rng: random.Random) -> str:
    """The user message for one target; tone and (sometimes) a scene are drawn from `rng` for variety."""
    values = target_dict(target)
    lines = [
        f"Language: {_LANGUAGE_NAMES[language]}",
        f"Tone: {rng.choice(_TONES)}",
        f"At most {_MAX_CHARS[language]} characters.",
    ]
    if rng.random() < 0.5:
        lines.append(f"Scene (mention it only if it fits the qualities): {rng.choice(_SCENES)}")
    constraints = constraints_for(values)
    if constraints:
        lines.append("Qualities to convey:")
        lines += [
            f"- {_degree(values[item['axis']])}: {_QUALITIES[(item['axis'], item['direction'])]}"
            for item in constraints
        ]
    else:
        lines.append("Qualities to convey: none in particular; ask for something balanced and middle-of-the-road.")
    return "\n".join(lines)


def _clean(text: str) -> str:
    """One line, without the quotes a chat model likes to wrap an answer in."""
    text = " ".join(text.split())
    for left, right in (('"', '"'), ("“", "”"), ("「", "」"), ("'", "'")):
        if len(text) > 2 and text.startswith(left) and text.endswith(right):
            text = text[1:-1].strip()
    return text


class MistralTeacher:
    """A Mistral chat model as a Teacher (``name = "mistral"``), with retries, a Budget and a CostLedger.

    ``write`` is the Teacher protocol (one request; BudgetExhausted and
    MistralAPIError escape it). ``write_many`` never raises for those: it
    returns the outputs written so far and the reason it stopped.
    """

    name = "mistral"

    def __init__(
        self,
        client: Mistral,
        *,
        model: str = DEFAULT_TEACHER_MODEL,
        budget: Budget | None = None,
        ledger: CostLedger | None = None,
        max_concurrency: int = 4,
        temperature: float = 0.9,
        max_tokens: int = 200,
        max_retries: int = 4,
        base_delay_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.client = client
        self.model = model
        self.budget = budget or Budget()
        if not self.budget.can_price(model):
            raise ValueError(f"no price for {model!r}, so the USD budget cannot be enforced; pass a price table")
        self.ledger = ledger or CostLedger()
        self.max_concurrency = max_concurrency
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.max_retries = max_retries
        self.base_delay_s = base_delay_s
        self.sleep = sleep

    @classmethod
    def from_env(cls) -> MistralTeacher:
        """From MISTRAL_API_KEY (required), MISTRAL_SERVER_URL, FTLOOP_TEACHER_MODEL, FTLOOP_TEACHER_BUDGET_USD."""
        client = client_from_env()
        budget_text = os.environ.get(BUDGET_USD_ENV, "").strip()
        try:
            max_usd = float(budget_text) if budget_text else None
        except ValueError:
            raise ValueError(f"{BUDGET_USD_ENV}={budget_text!r} is not a number of US dollars") from None
        if max_usd is not None and max_usd < 0:
            raise ValueError(f"{BUDGET_USD_ENV} must not be negative, got {budget_text}")
        return cls(client, model=os.environ.get(MODEL_ENV) or DEFAULT_TEACHER_MODEL, budget=Budget(max_usd=max_usd))

    def write(self, target: dict[str, int], language: str, rng: random.Random) -> TeacherOutput:
        """One request; raises BudgetExhausted before calling when the budget is already spent."""
        self.budget.check()
        output, _ = self._write(target, language, rng)
        return output

    def _write(
        self,
        target: Mapping[str, int],
        language: str,
        rng: random.Random,
        on_retry: LogCallback | None = None,
    ) -> tuple[TeacherOutput, BudgetExhausted | None]:
        """(output, the exhaustion this request caused or None); API failures become MistralAPIError."""
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; choose from: {', '.join(LANGUAGES)}")
        messages = [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": request_prompt(target, language, rng)},
        ]
        response, usage = chat_complete(
            self.client,
            f"Mistral teacher ({self.model})",
            max_retries=self.max_retries,
            base_delay_s=self.base_delay_s,
            sleep=self.sleep,
            on_retry=on_retry,
            model=self.model,
            messages=messages,
            temperature=self.temperature,
            max_tokens=self.max_tokens,
            random_seed=rng.randrange(2**31),
        )
        self.ledger.record("teacher", self.model, usage)
        exhausted = None
        try:
            self.budget.charge(usage, self.model)
        except BudgetExhausted as exc:
            exhausted = exc
        # The model's wording is free, so no substring is known to carry each constraint. An empty or
        # leaking answer is kept as written: the filter stage drops it and records why.
        expressed = [{**item, "phrase": None} for item in constraints_for(target_dict(target))]
        return TeacherOutput(text=_clean(answer_text(response)), expressed=expressed, usage=usage), exhausted

    def write_many(
        self,
        items: Sequence[TeacherItem],
        on_progress: ProgressCallback | None = None,
        should_stop: StopCheck | None = None,
        on_log: LogCallback | None = None,
    ) -> TeacherBatch:
        """Write every item, ``max_concurrency`` requests at a time; stop cleanly instead of raising.

        Stops when the budget is spent, when ``should_stop()`` (polled after each
        answer) is true, or when a request still fails after its retries; items
        not written stay None. ``on_log`` gets a line per retry. Every callback
        runs in the calling thread, so a worker may touch its database from them.
        """
        outputs: list[TeacherOutput | None] = [None] * len(items)
        reasons: list[str] = []
        stopped = threading.Event()
        lock = threading.Lock()
        retry_lines: queue.SimpleQueue[str] = queue.SimpleQueue()

        def flush_log() -> None:
            while not retry_lines.empty():
                line = retry_lines.get()
                if on_log:
                    on_log(line)

        def stop(reason: str) -> None:
            with lock:
                if not reasons:
                    reasons.append(reason)
            stopped.set()

        def work(index: int) -> None:
            if stopped.is_set():
                return
            try:
                self.budget.check()
                target, language, rng = items[index]
                outputs[index], exhausted = self._write(target, language, rng, retry_lines.put)
            except BudgetExhausted as exc:
                stop(exc.reason)
                return
            except MistralAPIError as exc:
                stop(f"Mistral API error: {exc}")
                return
            if exhausted is not None:
                stop(exhausted.reason)

        written = 0
        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="mistral-teacher") as pool:
            futures: list[Future[None]] = [pool.submit(work, index) for index in range(len(items))]
            try:
                for future in as_completed(futures):
                    if future.cancelled():
                        continue
                    future.result()
                    flush_log()
                    if not stopped.is_set() and should_stop is not None and should_stop():
                        stop("cancelled")
                    if stopped.is_set():
                        for pending in futures:
                            pending.cancel()
                    done = sum(output is not None for output in outputs)
                    if on_progress and done != written:
                        written = done
                        on_progress(written, len(items))
            except BaseException:
                for pending in futures:
                    pending.cancel()
                raise
        flush_log()
        return TeacherBatch(outputs=outputs, stopped_reason=reasons[0] if reasons else None)
