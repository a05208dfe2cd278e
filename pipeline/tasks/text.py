"""Text utilities the task packages share: what counts as the same text, and which language a text is in."""

from __future__ import annotations

import re
import unicodedata

from datasketch import MinHash, MinHashLSH

_JA_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


def normalise(text: str) -> str:
    """Case, width, punctuation and spacing folded away: what 'exact duplicate' compares."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(" " if unicodedata.category(ch)[0] in "PSZ" else ch for ch in folded)
    return " ".join(kept.split())


def ja_ratio(text: str) -> float:
    """Share of Japanese-script characters among letters (digits, spaces, punctuation ignored)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _JA_CHAR.match(ch)) / len(letters)


def detect_language(text: str) -> str:
    """"ja" when Japanese script dominates the letters, else "en": for rows that do not say."""
    return "ja" if ja_ratio(text) >= 0.5 else "en"


class NearDuplicateIndex:
    """MinHash/LSH over character 4-grams of normalised text (works for en and ja alike)."""

    def __init__(self, threshold: float = 0.9, num_perm: int = 64) -> None:
        self._num_perm = num_perm
        self._lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)

    def _minhash(self, text: str) -> MinHash:
        padded = f" {normalise(text)} "
        minhash = MinHash(num_perm=self._num_perm)
        minhash.update_batch([padded[i : i + 4].encode("utf-8") for i in range(max(1, len(padded) - 3))])
        return minhash

    def query(self, text: str) -> list[str]:
        return sorted(self._lsh.query(self._minhash(text)))

    def insert(self, key: str, text: str) -> None:
        self._lsh.insert(key, self._minhash(text))
