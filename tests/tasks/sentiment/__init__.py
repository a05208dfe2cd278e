"""A fourth task type that lives only in the test suite: a player's comment -> POSITIVE / NEUTRAL / NEGATIVE.

It proves that a task type is one package plus one registry line: the suite
registers it with FTLOOP_TASK_PACKAGES="sentiment=tests.tasks.sentiment" (in
this process and in the worker processes it starts), and nothing outside this
package names it. Words and templates are package data (words.txt).
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

from pipeline.tasks.common import TextAnswerTask, stratified_split, text_md5
from pipeline.tasks.predictors import RulePredictor
from pipeline.tasks.registry import AnswerField, CleanResult, ProgressCallback, TrainingPreset

LABELS = ("POSITIVE", "NEUTRAL", "NEGATIVE")
SYSTEM_PROMPT = "Label the player's comment as POSITIVE, NEUTRAL or NEGATIVE. Reply with the label only."


def read_words(text: str) -> dict[str, tuple[str, ...]]:
    """`[section]` headers, then one entry a line; ValueError naming the line of an entry outside a section."""
    sections: dict[str, list[str]] = {}
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is None:
            raise ValueError(f"words.txt line {number}: {line!r} comes before any [section]")
        else:
            current.append(line)
    return {name: tuple(entries) for name, entries in sections.items()}


WORDS = read_words(resources.files(__package__).joinpath("words.txt").read_text(encoding="utf-8"))
_PATTERNS = {label: re.compile(r"\b(" + "|".join(map(re.escape, WORDS[label.lower()])) + r")\b", re.IGNORECASE)
             for label in ("POSITIVE", "NEGATIVE")}


def keyword_label(text: str) -> str:
    hits = {label: len(pattern.findall(text)) for label, pattern in _PATTERNS.items()}
    if hits["POSITIVE"] == hits["NEGATIVE"]:
        return "NEUTRAL"
    return max(hits, key=hits.get)


class KeywordRules(RulePredictor):
    def answer(self, text: str) -> str:
        return keyword_label(text)


def parse(raw: str) -> str | None:
    found = re.findall(r"\b(" + "|".join(LABELS) + r")\b", raw.upper())
    return found[0] if len(set(found)) == 1 else None


class SentimentTask(TextAnswerTask):
    name = "sentiment"
    label = "Sentiment of a player comment (test-only task)"
    languages = ("en",)
    headline_metric = "accuracy"
    higher_is_better = {"accuracy": True, "invalid_rate": False}
    verdict_metrics = ("accuracy",)
    trainers = ("sft", "cls_head")
    default_trainer = "cls_head"
    answer_fields = (AnswerField("label", "choice", LABELS),)
    head_labels = LABELS
    presets = (TrainingPreset("head", "Classification head", {"trainer": "cls_head"}),
               TrainingPreset("sft", "SFT: the label as the answer", {"trainer": "sft", "max_seq_length": 96}))

    def demo_rows(self, size: int, seed: int, language: str,
                  on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
        if language != "en":
            raise ValueError(f"unknown language {language!r}; choose from: en")
        rng = random.Random(seed)
        rows = []
        for index in range(size):
            answer = LABELS[index % 3]
            word = rng.choice(WORDS[answer.lower()])
            template = rng.choice(WORDS["templates"])
            text = template.format(word=word, thing=rng.choice(WORDS["things"]), n=rng.randint(2, 99))
            rows.append({"id": f"s{index:05d}", "text": text, "answer": answer, "language": "en"})
        if on_progress:
            on_progress(size, size)
        return rows

    def validate_row(self, obj: Any, index: int) -> dict[str, Any]:
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str) or not obj["text"].strip():
            raise ValueError('expected an object with a non-empty "text"')
        return {"id": str(obj.get("id", f"row-{index}")), "text": obj["text"], "language": "en",
                "answer": self.check_answer(obj.get("label"))}

    def clean(self, rows: Sequence[dict[str, Any]], options: Mapping[str, Any],
              on_progress: ProgressCallback | None = None) -> CleanResult:
        kept, dropped, seen = [], [], set()
        for row in rows:
            digest = text_md5(row["text"])
            if digest in seen:
                dropped.append({**row, "reason": "duplicate_exact", "detail": digest})
            else:
                seen.add(digest)
                kept.append(row)
        return CleanResult(kept, dropped, ("duplicate_exact",))

    def split(self, rows: Sequence[dict[str, Any]], seed: int,
              fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[dict[str, Any]]]:
        return stratified_split(rows, seed, fractions, stratum=lambda row: row["answer"])

    def chat_messages(self, row: Mapping[str, Any], with_answer: bool,
                      train_mode: str | None = None) -> list[dict[str, str]]:
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": row["text"]}]
        return messages + ([{"role": "assistant", "content": row["answer"]}] if with_answer else [])

    def parse(self, raw: str) -> str | None:
        return parse(raw)

    def rule_baseline(self) -> KeywordRules:
        return KeywordRules()

    def metrics(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
        return {"accuracy": sum(row["correct"] for row in rows) / len(rows),
                "invalid_rate": sum(not row["valid"] for row in rows) / len(rows)}


TASK = SentimentTask()
