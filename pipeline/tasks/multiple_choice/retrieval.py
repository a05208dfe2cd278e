"""Pattern D's retrieval: an offline BM25 index over passages, and rows with the best passages prepended."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks.multiple_choice.parsing import question_stem
from pipeline.tasks.multiple_choice.prompt import CONTEXT_LABELS

_EN_WORD = re.compile(r"[a-z0-9]+")
_JA_RUN = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff々ー]+")
_STOPWORDS = frozenset(
    "a an and are as at be by did do does for from has have in is it its of on or that the this to was what "
    "which who whom why how where when with".split()
)


def terms(text: str) -> list[str]:
    """Index terms: English words (stopwords dropped) and character bigrams of Japanese runs."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    found = [word for word in _EN_WORD.findall(folded) if word not in _STOPWORDS]
    for run in _JA_RUN.findall(folded):
        found.extend([run] if len(run) == 1 else [run[i : i + 2] for i in range(len(run) - 1)])
    return found


class PassageIndex:
    """Okapi BM25 over a small passage list ({"id", "text", ...}), in memory, no dependencies."""

    def __init__(self, passages: Sequence[Mapping[str, Any]], k1: float = 1.5, b: float = 0.75) -> None:
        self.passages = list(passages)
        self.k1, self.b = k1, b
        self._counts = [Counter(terms(passage["text"])) for passage in self.passages]
        self._lengths = [sum(counts.values()) for counts in self._counts]
        self._mean_length = sum(self._lengths) / len(self._lengths) if self._lengths else 0.0
        document_frequency = Counter(term for counts in self._counts for term in counts)
        n = len(self.passages)
        self._idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in document_frequency.items()}

    def search(self, query: str, top_k: int = 1) -> list[dict[str, Any]]:
        """The best ``top_k`` passages with a positive score, best first (ties keep list order)."""
        query_terms = set(terms(query))
        scored = []
        for position, (passage, counts, length) in enumerate(zip(self.passages, self._counts, self._lengths)):
            matched = query_terms & counts.keys()
            if not matched:
                continue
            norm = self.k1 * (1 - self.b + self.b * length / self._mean_length)
            score = sum(self._idf[term] * counts[term] * (self.k1 + 1) / (counts[term] + norm) for term in matched)
            if score > 0:
                scored.append((-score, position, passage))
        return [dict(passage, score=-negative) for negative, _, passage in sorted(scored, key=lambda s: s[:2])[:top_k]]


def with_retrieved_context(rows: Sequence[Mapping[str, Any]], passages: Sequence[Mapping[str, Any]],
                           top_k: int = 1) -> list[dict[str, Any]]:
    """Rows whose text starts with the ``top_k`` passages best matching their question stem.

    Each row records the passage ids under "context"; rows that already carry
    "context" pass unchanged, so applying it twice does not stack contexts.
    """
    if top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    index = PassageIndex(passages)
    prepared = []
    for row in rows:
        if "context" in row:
            prepared.append(dict(row))
            continue
        hits = index.search(question_stem(row["text"]), top_k)
        label = CONTEXT_LABELS.get(row.get("language", "en"), CONTEXT_LABELS["en"])
        text = "\n".join(label + hit["text"] for hit in hits) + "\n\n" + row["text"] if hits else row["text"]
        prepared.append(dict(row, text=text, context=[hit["id"] for hit in hits]))
    return prepared
