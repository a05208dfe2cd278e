"""Reading a question's options and a model's answer letter (English and Japanese markers, full width too)."""

from __future__ import annotations

import re
import unicodedata

from pipeline.tasks.multiple_choice.schema import LETTERS

_FULLWIDTH_LETTER = "Ａ-Ｚ"
_OPENERS = r"[\(\[（［【「『*]*"
# An answer marker in English or Japanese, then at most "is"/"は", a colon or
# equals sign, "option"/"選択肢", brackets or bold, then one capital letter that
# does not start a word ("Answer: Because..." is no answer).
_MARKER = re.compile(
    r"(?:\b(?i:answer)|答え|正解|解答|回答|答)"
    r"(?:\s*(?:(?i:is)\b|は|[:：=＝\-]))*\s*"
    r"(?:(?i:option|choice)\s+|選択肢\s*)?"
    + _OPENERS
    + r"\s*(?P<letter>[A-Z" + _FULLWIDTH_LETTER + r"])(?![A-Za-zＡ-Ｚａ-ｚ])"
)
_BARE_LETTER = re.compile(
    r"^\s*" + _OPENERS + r"\s*(?P<letter>[A-Z" + _FULLWIDTH_LETTER + r"])\s*[\)\]）］】」』*.．。:：]*\s*$"
)
_OPTION_LINE = re.compile(
    r"^[ \t]*[\(（]?(?P<letter>[A-EＡ-Ｅ])[ \t]*[.．)）:：][ \t]*(?P<option>\S.*?)[ \t]*$", re.MULTILINE
)


def _letter(raw: str) -> str | None:
    letter = unicodedata.normalize("NFKC", raw)
    return letter if letter in LETTERS else None


def parse_answer(raw: str) -> str | None:
    """The answer letter (A-E) of a model output, None when unreadable.

    The last answer marker wins, so reasoning may mention letters (and even a
    first guess) before its final ``Answer: X``. Markers: "Answer: B",
    "the answer is (B)", "答え: B", "答え：Ｂ", "正解はB" (full-width letters
    and punctuation too). Without a marker, an output that is a single letter
    ("B", "(B)", "B.") is read as a direct answer. A marker naming a letter
    outside A-E makes the output unreadable rather than falling back to an
    earlier marker.
    """
    matches = list(_MARKER.finditer(raw))
    if matches:
        return _letter(matches[-1].group("letter"))
    bare = _BARE_LETTER.match(raw)
    return _letter(bare.group("letter")) if bare else None


def split_output(output: str) -> tuple[str, str | None]:
    """(reasoning, letter) of a gold or model output: the reasoning is everything before the last marker."""
    matches = list(_MARKER.finditer(output))
    if matches:
        return output[: matches[-1].start()].strip(), _letter(matches[-1].group("letter"))
    return "", parse_answer(output)


def parse_options(text: str) -> dict[str, str]:
    """The lettered options of a question, {"A": "12", ...}; a letter given twice keeps its last line."""
    return {unicodedata.normalize("NFKC", m.group("letter")): m.group("option") for m in _OPTION_LINE.finditer(text)}


def question_stem(text: str) -> str:
    """The question (and any context) without its option lines: what retrieval and the baseline read."""
    return _OPTION_LINE.sub("", text).strip()
