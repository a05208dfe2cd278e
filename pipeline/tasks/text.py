"""Text utilities the task packages share: what counts as the same text, and which language a text is in."""

from __future__ import annotations

import re
import unicodedata
import zlib

from datasketch import MinHash, MinHashLSH

_JA_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff66-\uff9f]")


class _SpaceFold(dict):
    """A ``str.translate`` table, filled as characters are met: punctuation, symbols and separators (Unicode
    categories P, S, Z) become a space, everything else stays."""

    def __missing__(self, codepoint: int) -> str:
        char = chr(codepoint)
        self[codepoint] = value = " " if unicodedata.category(char)[0] in "PSZ" else char
        return value


_SPACE_FOLD = _SpaceFold()


def normalise(text: str) -> str:
    """Case, width, punctuation and spacing folded away: what 'exact duplicate' compares."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().translate(_SPACE_FOLD).split())


def ja_ratio(text: str) -> float:
    """Share of Japanese-script characters among letters (digits, spaces, punctuation ignored)."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if _JA_CHAR.match(ch)) / len(letters)


def detect_language(text: str) -> str:
    """"ja" when Japanese script dominates the letters, else "en": for rows that do not say."""
    return "ja" if ja_ratio(text) >= 0.5 else "en"


def shingles(normalised: str) -> set[str]:
    """A normalised text's character 4-grams, padded with a space at each end."""
    padded = f" {normalised} "
    return {padded[i : i + 4] for i in range(max(1, len(padded) - 3))}


class NearDuplicateIndex:
    """Near duplicates by the Jaccard similarity of character 4-grams of normalised text (en and ja alike).

    A text is a near duplicate of an indexed one when their 4-gram sets overlap at ``threshold`` or more. MinHash/LSH
    (datasketch) finds the candidates, tuned to a threshold ``CANDIDATE_MARGIN`` lower so that a pair just above
    ``threshold`` is not missed on a coin toss of the banding; each candidate is then checked on its exact 4-grams.
    Built for bulk use: the permutations are drawn once per index (a signature copies an empty MinHash that holds
    them), shingles are hashed with CRC-32 (C speed; MinHash's permutations spread the values), and ``add_if_new``
    computes a text's signature once for both the query and the insert."""

    CANDIDATE_MARGIN = 0.15

    def __init__(self, threshold: float = 0.9, num_perm: int = 64) -> None:
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=max(0.05, threshold - self.CANDIDATE_MARGIN), num_perm=num_perm)
        self._empty = MinHash(num_perm=num_perm, hashfunc=zlib.crc32)
        self._texts: dict[str, str] = {}  # key -> normalised text, for the exact check of a candidate

    def _signature(self, grams: set[str]) -> MinHash:
        minhash = self._empty.copy()
        minhash.update_batch([gram.encode("utf-8") for gram in grams])
        return minhash

    def _matches(self, grams: set[str], minhash: MinHash) -> list[str]:
        found = []
        for key in self._lsh.query(minhash):
            other = shingles(self._texts[key])
            if len(grams & other) >= self.threshold * len(grams | other):
                found.append(key)
        return sorted(found)

    def query(self, text: str, normalised: bool = False) -> list[str]:
        """The keys of indexed texts that ``text`` is a near duplicate of."""
        grams = shingles(text if normalised else normalise(text))
        return self._matches(grams, self._signature(grams))

    def insert(self, key: str, text: str, normalised: bool = False) -> None:
        normalised_text = text if normalised else normalise(text)
        self._texts[key] = normalised_text
        self._lsh.insert(key, self._signature(shingles(normalised_text)))

    def add_if_new(self, key: str, text: str, normalised: bool = False) -> list[str]:
        """The keys of indexed near duplicates of ``text``; when there are none, ``text`` is indexed as ``key``."""
        normalised_text = text if normalised else normalise(text)
        grams = shingles(normalised_text)
        minhash = self._signature(grams)
        similar = self._matches(grams, minhash)
        if not similar:
            self._texts[key] = normalised_text
            self._lsh.insert(key, minhash)
        return similar
