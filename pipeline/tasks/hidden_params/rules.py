"""rule_baseline: a hand-written music lexicon, the floor every learned model must clear.

It reads a request the way a game designer briefs a composer: tempo words,
genres, instruments, moods, eras, production terms and game scenes, in English
and Japanese. Each term nudges some axes away from 50 (a genre usually moves
several: "lo-fi" is slow, warm, a little electronic, simple and nostalgic),
degree words scale the nudge, negation flips it ("not too fast", "without
synths", "激しくない", "シンセなし"), and the sum per axis is squashed back
into 0-100. Deterministic, no model, microseconds per request.

The vocabulary is package data (data/lexicon_<language>.txt for the terms,
data/rule_words_<language>.txt for degree and negation words), written from a
designer's point of view on purpose and not the template teacher's phrase
banks: a baseline that shares the teacher's word lists would measure the
teacher, not the task.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass

from pipeline.tasks.datafiles import Entry, Sections, expect_sections, load_sections, texts
from pipeline.tasks.hidden_params.schema import AXES, format_target
from pipeline.tasks.predictors import RulePredictor

_AXIS_CODES = {
    "E": "energy",
    "W": "warmth",
    "B": "brightness",
    "A": "acousticness",
    "C": "complexity",
    "N": "nostalgia",
}


def _parse_deltas(spec: str, entry: Entry) -> tuple[float, ...]:
    deltas = [0.0] * len(AXES)
    tokens = spec.split()
    if not tokens:
        raise entry.error(f"no deltas after ':' in {entry.raw!r}; write e.g. 'E+25 W-10', or '0'")
    for token in tokens:
        if token == "0":
            continue
        code, value = token[0], token[1:]
        if code not in _AXIS_CODES or not re.fullmatch(r"[+-]\d+", value):
            raise entry.error(f"bad delta {token!r} in {entry.raw!r}; expected a code of {''.join(_AXIS_CODES)} "
                              "and a signed number, e.g. E+25")
        deltas[AXES.index(_AXIS_CODES[code])] += float(value)
    return tuple(deltas)


def parse_lexicon(sections: Sections, key: Callable[[str], str]) -> dict[str, tuple[float, ...]]:
    """term key -> per-axis deltas, from "term | term: E+25 W-10" lines; a term listed twice is a mistake."""
    terms: dict[str, tuple[float, ...]] = {}
    for entry in (entry for entries in sections.values() for entry in entries):
        if ":" not in entry.raw:
            raise entry.error(f"expected 'term | term: E+25 W-10', got {entry.raw!r}")
        names, spec = entry.raw.rsplit(":", 1)
        deltas = _parse_deltas(spec, entry)
        for name in names.split("|"):
            term = key(name.strip())
            if not term:
                raise entry.error(f"empty term in {entry.raw!r}")
            if term in terms:
                raise entry.error(f"lexicon term {name.strip()!r} is listed twice")
            terms[term] = deltas
    return terms


def parse_words(sections: Sections, names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """The word lists of a rule_words file: section name -> its words, each of ``names`` present and no other."""
    expect_sections(sections, names)
    return {name: texts(sections, name) for name in names}


# Degree words scale a term; "not"-words flip it. Players often put an extreme
# as a negation ("not upbeat at all") and the mild end as "not too ...".
_EN_WORDS = parse_words(load_sections(__package__, "data/rule_words_en.txt"),
                        ("strong", "medium", "mild", "negators", "weak negators", "softeners"))
_EN_STRONG = frozenset(_EN_WORDS["strong"])
_EN_MEDIUM = frozenset(_EN_WORDS["medium"])
_EN_MILD = frozenset(_EN_WORDS["mild"])
_EN_NEGATORS = frozenset(_EN_WORDS["negators"])
_EN_WEAK_NEGATORS = frozenset(_EN_WORDS["weak negators"])
# "not too fast", "not very dark": a negated degree word asks for the mild opposite.
_EN_SOFTENERS = frozenset(_EN_WORDS["softeners"])
_EN_CLAUSE_BREAK = re.compile(
    r"[,.;:!?()\[\]/]|\b(?:but|and|though|although|yet|while|just|instead|plus|then|rather)\b"
)
_EN_FULL_NEGATION_AFTER = re.compile(r"^(?:\W+\w+){0,2}?\W+(?:at all|in the slightest|whatsoever)\b")
_EN_WORD = re.compile(r"[a-z']+")
_EN_CONTEXT_CHARS = 60  # more than the four words a negation or degree word may stand back

_JA_WORDS = parse_words(load_sections(__package__, "data/rule_words_ja.txt"),
                        ("strong", "medium", "mild", "negations", "full negation cues", "mild negation cues",
                         "request idioms", "softening words", "boosting words"))
_JA_STRONG = _JA_WORDS["strong"]
_JA_MEDIUM = _JA_WORDS["medium"]
_JA_MILD = _JA_WORDS["mild"]
_JA_FULL_NEGATION_CUES = _JA_WORDS["full negation cues"]
_JA_MILD_NEGATION_CUES = _JA_WORDS["mild negation cues"]
# What negates a term, in the words between it and the next term or clause
# break: okurigana ("くない", "じゃなくて", "なし") or a verb ("シンセは使わない", "抜き").
_JA_NEGATIONS = _JA_WORDS["negations"]
# "...とかないかな？" asks for something; it negates nothing.
_JA_REQUEST_IDIOMS = _JA_WORDS["request idioms"]
_JA_NEGATION_REACH = 12  # characters after a term
_JA_SOFTENING_WORDS = _JA_WORDS["softening words"]
_JA_BOOSTING_WORDS = _JA_WORDS["boosting words"]
_JA_CLAUSE_BREAK = re.compile(r"[、。，．,.!?！？\s「」（）()・]")
_JA_KANA_RUN = re.compile(r"[ぁ-ゖー]{0,10}")
_JA_CHARACTERS = re.compile(r"[ぁ-ゖァ-ヺ一-鿿]")

_BPM = re.compile(r"(?<![0-9])(\d{2,3})\s*bpm\b|\bbpm\s*(?:of\s*|=\s*|:\s*)?(\d{2,3})(?![0-9])")
_DECADE = re.compile(r"(?<![0-9])(?:19)?([5-9]0)(?:'?s\b|年代)")

STRONG, MEDIUM, MILD = 1.6, 1.3, 0.5
NEGATED, NEGATED_MILD, NEGATED_FULL = -0.7, -0.4, -1.0
# The summed points of an axis go through tanh, so that many mentions approach
# but never pass the ends of the scale: 45 points give 50 +/- 38.
_SATURATION = 45.0


def _normalize(text: str) -> str:
    """NFKC (full-width ASCII and half-width kana fold), lower case, straight apostrophes."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")


def _english_key(term: str) -> str:
    """Words joined by one space: "lo-fi", "lo fi" and "Lo-Fi" are one term."""
    return " ".join(_EN_TOKEN.findall(_normalize(term)))


_EN_TOKEN = re.compile(r"[a-z0-9&]+(?:'[a-z]+)?")
_EN_TERMS = parse_lexicon(load_sections(__package__, "data/lexicon_en.txt"), _english_key)
_EN_LONGEST = max(term.count(" ") + 1 for term in _EN_TERMS)
_EN_PHRASE_STARTS = frozenset(term.split(" ")[0] for term in _EN_TERMS if " " in term)
_JA_TERMS = parse_lexicon(load_sections(__package__, "data/lexicon_ja.txt"), _normalize)
# Longest first, so 夜明け wins over 夜 and ピアノだけ over ピアノ.
_JA_PATTERN = re.compile("|".join(re.escape(term) for term in sorted(_JA_TERMS, key=len, reverse=True)))


@dataclass(frozen=True)
class Hit:
    """One lexicon match and the factor its context gave it (negation, degree)."""

    start: int
    end: int
    term: str
    deltas: tuple[float, ...]
    factor: float = 1.0


def _english_term(phrase: str) -> str | None:
    """The lexicon key of a phrase, allowing a plural ending on its last word."""
    if phrase in _EN_TERMS:
        return phrase
    for suffix in ("es", "s"):
        if phrase.endswith(suffix) and phrase[: -len(suffix)] in _EN_TERMS:
            return phrase[: -len(suffix)]
    return None


def _english_hits(text: str) -> Iterator[Hit]:
    """Longest n-gram first at each word; a final plural -s/-es also matches."""
    tokens = list(_EN_TOKEN.finditer(text))
    words = [token.group(0) for token in tokens]
    index = 0
    while index < len(tokens):
        longest = min(_EN_LONGEST, len(tokens) - index) if words[index] in _EN_PHRASE_STARTS else 1
        for size in range(longest, 0, -1):
            phrase = " ".join(words[index : index + size])
            term = _english_term(phrase)
            if term is not None:
                yield Hit(tokens[index].start(), tokens[index + size - 1].end(), term, _EN_TERMS[term])
                index += size
                break
        else:
            index += 1


def _raw_hits(text: str) -> list[Hit]:
    """Every lexicon, BPM and decade match, leftmost-longest and non-overlapping."""
    found = list(_english_hits(text))
    found.extend(
        Hit(match.start(), match.end(), match.group(0), _JA_TERMS[match.group(0)])
        for match in _JA_PATTERN.finditer(text)
    )
    for match in _BPM.finditer(text):
        bpm = int(match.group(1) or match.group(2))
        energy = max(-40.0, min(40.0, (bpm - 105) * 0.6))
        found.append(Hit(match.start(), match.end(), match.group(0), _single("energy", energy)))
    for match in _DECADE.finditer(text):
        found.append(Hit(match.start(), match.end(), match.group(0), _single("nostalgia", 30.0)))
    found.sort(key=lambda hit: (hit.start, -(hit.end - hit.start)))
    kept: list[Hit] = []
    for hit in found:
        if not kept or hit.start >= kept[-1].end:
            kept.append(hit)
    return kept


def _single(axis: str, value: float) -> tuple[float, ...]:
    return tuple(value if name == axis else 0.0 for name in AXES)


def _english_factor(text: str, hit: Hit, previous_end: int, next_start: int) -> float:
    """Negation reaches back over its clause ("no synths or drum machines"); degree words only to the last hit."""
    window_start = max(0, hit.start - _EN_CONTEXT_CHARS)
    before = text[window_start : hit.start]
    if re.search(r"\banything but\s*$", before):
        return NEGATED_FULL
    breaks = list(_EN_CLAUSE_BREAK.finditer(before))
    clause_start = window_start + (breaks[-1].end() if breaks else 0)
    words = _EN_WORD.findall(text[clause_start : hit.start])[-4:]
    negators = [index for index, word in enumerate(words) if word in _EN_NEGATORS or word in _EN_WEAK_NEGATORS]
    if negators:
        last = negators[-1]
        if words[last] in _EN_WEAK_NEGATORS or any(word in _EN_SOFTENERS for word in words[last + 1 :]):
            return NEGATED_MILD
        if _EN_FULL_NEGATION_AFTER.match(text[hit.end : next_start] + " "):
            return NEGATED_FULL
        return NEGATED
    degree_words = _EN_WORD.findall(text[max(clause_start, previous_end) : hit.start])[-2:]
    return _degree(degree_words, _EN_STRONG, _EN_MEDIUM, _EN_MILD)


def _degree(words: Sequence[str], strong: Collection[str], medium: Collection[str], mild: Collection[str]) -> float:
    if any(word in strong for word in words) or sum(word in medium for word in words) >= 2:  # "really really"
        return STRONG
    if any(word in medium for word in words):
        return MEDIUM
    if any(word in mild for word in words):
        return MILD
    return 1.0


def _japanese_factor(text: str, hit: Hit, previous_end: int, next_start: int) -> float:
    """Negation follows a term (up to the next term or clause break), degree adverbs precede it."""
    before = text[max(previous_end, hit.start - 10) : hit.start]
    breaks = list(_JA_CLAUSE_BREAK.finditer(before))
    before = before[breaks[-1].end() :] if breaks else before
    after = text[hit.end : min(next_start, hit.end + _JA_NEGATION_REACH)]
    after = after[: m.start()] if (m := _JA_CLAUSE_BREAK.search(after)) else after
    for cut in ("けど", "けれど", "のに"):
        after = after.split(cut)[0]
    for idiom in _JA_REQUEST_IDIOMS:
        after = after.replace(idiom, "")
    okurigana = _JA_KANA_RUN.match(after).group(0)
    rest = after[len(okurigana) :]
    negated = any(negation in after for negation in _JA_NEGATIONS)
    if (negated and ("すぎ" in after or "過ぎ" in after)) or rest.startswith(_JA_SOFTENING_WORDS):
        return NEGATED_MILD
    if negated:
        context = before + after
        if any(cue in context for cue in _JA_FULL_NEGATION_CUES):
            return NEGATED_FULL
        if any(cue in context for cue in _JA_MILD_NEGATION_CUES):
            return NEGATED_MILD
        return NEGATED
    if rest.startswith(_JA_BOOSTING_WORDS):
        return MEDIUM
    if okurigana.startswith("め") or rest.startswith(("寄り", "気味")):
        return MILD
    cues = [cue for cue in (*_JA_STRONG, *_JA_MEDIUM, *_JA_MILD) if cue in before]
    return _degree(cues, _JA_STRONG, _JA_MEDIUM, _JA_MILD)


def analyse(text: str) -> list[Hit]:
    """The lexicon hits of one request, each with its context factor (for debugging a rule)."""
    normalized = _normalize(text)
    japanese = bool(_JA_CHARACTERS.search(normalized))
    hits = _raw_hits(normalized)
    weighted = []
    for index, hit in enumerate(hits):
        previous_end = hits[index - 1].end if index else 0
        next_start = hits[index + 1].start if index + 1 < len(hits) else len(normalized)
        if japanese:
            factor = _japanese_factor(normalized, hit, previous_end, next_start)
        else:
            factor = _english_factor(normalized, hit, previous_end, next_start)
        weighted.append(Hit(hit.start, hit.end, hit.term, hit.deltas, factor))
    return weighted


def predict_values(text: str) -> tuple[int, ...]:
    """Six values 0-100: 50 plus the squashed sum of the weighted hits per axis."""
    totals = [0.0] * len(AXES)
    for hit in analyse(text):
        for index, delta in enumerate(hit.deltas):
            totals[index] += delta * hit.factor
    return tuple(round(50 + 50 * math.tanh(total / _SATURATION)) for total in totals)


class RuleBaseline(RulePredictor):
    """The Predictor of the lexicon: strict JSON out, per-request latency measured."""

    def answer(self, text: str) -> str:
        return format_target(predict_values(text))
