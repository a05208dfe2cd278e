"""multiple_choice: a question with lettered options -> one letter, answered directly or after reasoning.

Input JSONL (DESIGN §3): ``{"input": str, "output": str, "meta": {"mode": "direct"|"cot", ...}}``.
``input`` holds the question and one option a line (``A. ...``, ``B) ...``,
``(C) ...``); ``output`` is the gold answer, either just the marker
(``Answer: B``) or short reasoning that ends with it (CoT). Letters run from
A to E: five options cover the usual exam formats, and a closed range keeps the
parser from reading "Answer: I think..." as option I.

Train modes (``--train-mode``): ``direct`` trains on ``Answer: X`` only (the
reasoning of a CoT row is dropped), ``cot`` on the reasoning then
``Answer: X`` (a row without reasoning is refused), ``auto`` on what each
row's ``meta.mode`` says. The assistant target always ends with the English
marker, whatever the row's language, so one parser reads every model.

The experiment patterns A-D are the ``presets``; D prepends passages found by
an offline BM25 index (``PassageIndex``) to each question before training and
evaluation (``prepare_rows``). The demo generator ships its own passages.
"""

from __future__ import annotations

import math
import random
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pipeline.tasks.text import detect_language
from pipeline.eval.metrics import rows_p95_latency_ms
from pipeline.tasks.predictors import RulePredictor
from pipeline.tasks import common
from pipeline.tasks.common import stratified_split, text_md5
from pipeline.tasks.registry import AnswerField, CleanResult, ProgressCallback, TrainingPreset

ProgressCallback = Callable[[int, int], None]

NAME = "multiple_choice"
LETTERS = "ABCDE"
MODES = ("direct", "cot")
TRAIN_MODES = ("direct", "cot", "auto")
LANGUAGES = ("en", "ja")

SYSTEM_PROMPTS = {
    "direct": 'You answer multiple-choice questions. Reply with the letter of the correct option only, '
              'in the form "Answer: X".',
    "cot": "You answer multiple-choice questions. Think step by step in a few short sentences, "
           'then end with "Answer: X", where X is the letter of the correct option.',
}
CONTEXT_INSTRUCTION = " Use the context given before the question."
CONTEXT_LABELS = {"en": "Context: ", "ja": "参考: "}

# Why `clean` drops a row, in the order the checks run.
DROP_REASONS = ("too_short", "too_long", "output_too_long", "missing_options", "answer_not_in_options",
                "duplicate_exact")

# -- parsing -------------------------------------------------------------------------

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


# -- rows and prompts ----------------------------------------------------------------


def validate_row(obj: Any, index: int) -> dict[str, Any]:
    """One imported object -> a row {"id", "text", "answer", "output", "meta", "language"}.

    ``index`` (the line number) names the row when the object has no "id".
    """
    if not isinstance(obj, dict):
        raise ValueError('expected a JSON object with "input", "output" and "meta"')
    missing = [key for key in ("input", "output", "meta") if key not in obj]
    if missing:
        raise ValueError("missing key(s): " + ", ".join(f'"{key}"' for key in missing))
    for key in ("input", "output"):
        if not isinstance(obj[key], str) or not obj[key].strip():
            raise ValueError(f'"{key}" must be a non-empty string')
    meta = obj["meta"]
    if not isinstance(meta, dict):
        raise ValueError('"meta" must be an object')
    if meta.get("mode") not in MODES:
        raise ValueError(f'"meta.mode" must be "direct" or "cot", got {meta.get("mode")!r}')
    reasoning, answer = split_output(obj["output"])
    if answer is None:
        raise ValueError(f'"output" has no readable answer letter ({LETTERS[0]}-{LETTERS[-1]}); '
                         'end it with e.g. "Answer: B" or "答え: B"')
    if meta["mode"] == "cot" and not reasoning:
        raise ValueError('"meta.mode" is "cot" but "output" has no reasoning before the answer')
    row_id = obj.get("id", f"mc{index:06d}")
    if isinstance(row_id, bool) or not isinstance(row_id, (str, int)):
        raise ValueError('"id" must be a string or an integer')
    language = meta.get("language") or detect_language(obj["input"])
    if language not in LANGUAGES:
        raise ValueError(f'"meta.language" must be one of {", ".join(LANGUAGES)}, got {language!r}')
    return {
        "id": str(row_id),
        "text": obj["input"].strip(),
        "answer": answer,
        "output": obj["output"].strip(),
        "meta": dict(meta),
        "language": language,
    }


def prompt_mode(row: Mapping[str, Any], train_mode: str | None) -> str:
    """direct or cot for one row: the train mode, or the row's meta.mode under auto (direct when it has none)."""
    if train_mode not in (None, *TRAIN_MODES):
        raise ValueError(f"train mode must be one of {', '.join(TRAIN_MODES)}, got {train_mode!r}")
    if train_mode in MODES:
        return train_mode
    mode = (row.get("meta") or {}).get("mode")
    return mode if mode in MODES else "direct"


def chat_messages(row: Mapping[str, Any], with_answer: bool, train_mode: str | None = None) -> list[dict[str, str]]:
    """System + user (+ assistant) turns; the system prompt tells the model which mode to answer in."""
    mode = prompt_mode(row, train_mode)
    system = SYSTEM_PROMPTS[mode] + (CONTEXT_INSTRUCTION if row.get("context") else "")
    messages = [{"role": "system", "content": system}, {"role": "user", "content": row["text"]}]
    if with_answer:
        reasoning, _ = split_output(row.get("output", ""))
        final = f"Answer: {row['answer']}"
        if mode == "cot":
            if not reasoning:
                raise ValueError(f"row {row.get('id', '?')}: train mode 'cot' needs reasoning before the answer, "
                                 "but its output is the answer only; train it with 'direct' or 'auto'")
            final = f"{reasoning}\nAnswer: {row['answer']}"
        messages.append({"role": "assistant", "content": final})
    return messages


# -- retrieval (pattern D) -----------------------------------------------------------

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


# -- rule baseline -------------------------------------------------------------------


class OptionOverlapBaseline(RulePredictor):
    """Picks the option whose terms appear most in the question stem (and any retrieved context).

    Score = share of an option's terms found in the stem; ties and all-zero
    scores go to the first option. No model and no training data: on questions
    whose options never appear in the text (arithmetic, most lore without
    context) it is a chance-level floor, with pattern D's context it can read
    the answer off the passage. Output is "Answer: X", or "" when no options
    can be read (an invalid answer).
    """

    @staticmethod
    def choose(text: str) -> str | None:
        """The letter this rule picks for one question, None without options."""
        options = parse_options(text)
        if not options:
            return None
        stem_terms = set(terms(question_stem(text)))

        def overlap(letter: str) -> float:
            option_terms = terms(options[letter])
            return sum(term in stem_terms for term in option_terms) / len(option_terms) if option_terms else 0.0

        return max(sorted(options), key=lambda letter: (overlap(letter), -LETTERS.index(letter)))

    def answer(self, text: str) -> str:
        letter = self.choose(text)
        return f"Answer: {letter}" if letter else ""


# -- metrics -------------------------------------------------------------------------


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _correct(row: Mapping[str, Any]) -> float:
    return float(row.get("parsed") == row["answer"])


def _mode_of(row: Mapping[str, Any]) -> str | None:
    return (row.get("meta") or {}).get("mode")


def metrics(rows: Sequence[Mapping[str, Any]]) -> dict[str, float | None]:
    """Accuracy overall and per mode, invalid rate, output length per mode, p95 latency.

    Rows: {"answer", "parsed", "raw", "latency_ms", "meta"?, "tokens_decoded"?}.
    Per-mode keys group by ``meta.mode`` (None when no row has that mode); an
    unreadable output (parsed None) counts as wrong. Output tokens come from
    "tokens_decoded" where rows carry it, else None; latency likewise.
    """
    if not rows:
        raise ValueError("no eval rows to score")
    result: dict[str, float | None] = {
        "accuracy": _mean([_correct(row) for row in rows]),
        "invalid_rate": _mean([float(row.get("parsed") is None) for row in rows]),
    }
    for mode in MODES:
        group = [row for row in rows if _mode_of(row) == mode]
        result[f"accuracy/{mode}"] = _mean([_correct(row) for row in group])
        result[f"output_chars/{mode}"] = _mean([float(len(row.get("raw") or "")) for row in group])
        result[f"output_tokens/{mode}"] = _mean(
            [float(row["tokens_decoded"]) for row in group if row.get("tokens_decoded") is not None])
    result["p95_inference_latency_ms"] = rows_p95_latency_ms(rows)
    return result


HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "invalid_rate": False,
    **{f"accuracy/{mode}": True for mode in MODES},
    # Shorter outputs cost less to decode; accuracy says whether the length paid off.
    **{f"output_chars/{mode}": False for mode in MODES},
    **{f"output_tokens/{mode}": False for mode in MODES},
    "p95_inference_latency_ms": False,
}


def charts(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy by mode (bars) and gold vs predicted letter counts (positional bias shows here)."""
    groups = {"all": list(rows)} | {mode: [row for row in rows if _mode_of(row) == mode] for mode in MODES}
    present = [name for name, group in groups.items() if group or name == "all"]
    gold = Counter(row["answer"] for row in rows)
    predicted = Counter(row.get("parsed") for row in rows)
    return {
        "accuracy_by_mode": {
            "modes": present,
            "accuracy": [_mean([_correct(row) for row in groups[name]]) for name in present],
            "examples": [len(groups[name]) for name in present],
        },
        "answer_letters": {
            "letters": list(LETTERS),
            "gold": [gold.get(letter, 0) for letter in LETTERS],
            "predicted": [predicted.get(letter, 0) for letter in LETTERS],
            "invalid": predicted.get(None, 0),
        },
    }


# -- cleaning and splitting ------------------------------------------------------------

CLEAN_OPTIONS: dict[str, Any] = {"min_chars": 10, "max_chars": 2000, "max_output_chars": 2000, "min_options": 2}


def _drop_reason(row: Mapping[str, Any], options: Mapping[str, Any]) -> str | None:
    text = row["text"]
    if len(text) < options["min_chars"]:
        return "too_short"
    if len(text) > options["max_chars"]:
        return "too_long"
    if len(row.get("output", "")) > options["max_output_chars"]:
        return "output_too_long"
    letters = "".join(sorted(parse_options(text)))
    if len(letters) < options["min_options"] or letters != LETTERS[: len(letters)]:
        return "missing_options"
    if row["answer"] not in letters:
        return "answer_not_in_options"
    return None


def clean(rows: Sequence[dict[str, Any]], options: Mapping[str, Any]) -> CleanResult:
    """Drop rows a model should not learn from, each with a reason (DROP_REASONS).

    Options need consecutive letters from A (at least ``min_options``) and must
    include the gold letter. Exact duplicates compare the MD5 of the question
    with case, width, punctuation and spacing folded; the first one stays.
    """
    unknown = set(options) - set(CLEAN_OPTIONS)
    if unknown:
        raise ValueError(f"unknown clean option(s): {', '.join(sorted(unknown))}")
    try:
        settings = {key: int(value) for key, value in {**CLEAN_OPTIONS, **options}.items()}
    except (TypeError, ValueError):
        raise ValueError(f"clean options must be integers, got {dict(options)}") from None
    seen: set[str] = set()
    kept, dropped = [], []
    for row in rows:
        reason = _drop_reason(row, settings)
        if reason is None:
            digest = text_md5(row["text"])
            reason = "duplicate_exact" if digest in seen else None
            seen.add(digest)
        if reason:
            dropped.append(dict(row, reason=reason))
        else:
            kept.append(row)
    return CleanResult(kept=kept, dropped=dropped)


def split(rows: Sequence[dict[str, Any]], seed: int,
          fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[dict[str, Any]]]:
    """train/valid/test, stratified by meta.mode so every split keeps the direct/CoT mix.

    Each mode is shuffled with ``seed`` and cut by ``fractions`` (test takes
    the remainder); each split is then shuffled so the modes interleave.
    """
    return stratified_split(rows, seed, fractions, stratum=lambda row: str(_mode_of(row)))


# -- offline demo data ---------------------------------------------------------------

# Fictional lore of "Aetheria": answerable only from memory or from the passages (pattern D).
# Per kingdom: name, capital, guardian, founder, export; English then Japanese.
_KINGDOMS = (
    (("Ember Kingdom", "Ashford", "Stone golem", "Queen Liora", "Glass lanterns"),
     ("炎の王国", "アシュフォード", "石のゴーレム", "リオラ女王", "ガラスのランタン")),
    (("Frost Kingdom", "Whitmere", "Silver wolf", "King Oskar", "Woolen cloaks"),
     ("氷の王国", "ホワイトミア", "銀の狼", "オスカー王", "羊毛のマント")),
    (("Tide Kingdom", "Coralport", "Sea serpent", "Queen Maren", "Pearl ink"),
     ("潮の王国", "コーラルポート", "海蛇", "マレン女王", "真珠のインク")),
    (("Thorn Kingdom", "Briarhold", "Giant owl", "King Aldric", "Healing herbs"),
     ("茨の王国", "ブライアホールド", "大フクロウ", "アルドリック王", "薬草")),
    (("Storm Kingdom", "Galecrest", "Thunder hawk", "Queen Sela", "Copper bells"),
     ("嵐の王国", "ゲイルクレスト", "雷鷹", "セラ女王", "銅の鐘")),
    (("Dune Kingdom", "Solmara", "Sand drake", "King Tavin", "Spiced tea"),
     ("砂の王国", "ソルマーラ", "砂竜", "タヴィン王", "スパイスティー")),
    (("Moon Kingdom", "Nightvale", "White stag", "Queen Ysolde", "Silver mirrors"),
     ("月の王国", "ナイトヴェイル", "白い牡鹿", "イゾルデ女王", "銀の鏡")),
    (("Iron Kingdom", "Anvilgate", "Bronze dragon", "King Brann", "Clockwork toys"),
     ("鉄の王国", "アンヴィルゲート", "青銅の竜", "ブラン王", "ぜんまい仕掛けのおもちゃ")),
)
_LORE_ATTRIBUTES = ("capital", "guardian", "founder", "export")
_LORE_QUESTIONS = {
    "en": {
        "capital": "In the lore of Aetheria, what is the capital of the {name}?",
        "guardian": "In the lore of Aetheria, which creature guards the {name}?",
        "founder": "In the lore of Aetheria, who founded the {name}?",
        "export": "In the lore of Aetheria, what is the {name} famous for exporting?",
    },
    "ja": {
        "capital": "アエセリアの伝承で、{name}の首都はどこですか？",
        "guardian": "アエセリアの伝承で、{name}を守る生き物はどれですか？",
        "founder": "アエセリアの伝承で、{name}を建国したのは誰ですか？",
        "export": "アエセリアの伝承で、{name}の有名な輸出品はどれですか？",
    },
}
_LORE_FACTS = {
    "en": {
        "capital": "The lore says the capital of the {name} is {value}.",
        "guardian": "The lore says the {name} is guarded by a {value_lower}.",
        "founder": "The lore says the {name} was founded by {value}.",
        "export": "The lore says the {name} is famous for exporting {value_lower}.",
    },
    "ja": {
        "capital": "伝承によると、{name}の首都は{value}です。",
        "guardian": "伝承によると、{name}を守るのは{value}です。",
        "founder": "伝承によると、{name}を建国したのは{value}です。",
        "export": "伝承によると、{name}は{value}の輸出で有名です。",
    },
}
_GENERAL_PASSAGES = {
    "en": (
        "In Aetheria the calendar has thirteen months, and the new year begins with the Lantern Festival.",
        "Travellers in Aetheria pay with silver marks; one gold crown is worth twenty silver marks.",
        "The Wandering Guild of Aetheria carries letters between all eight kingdoms by airship.",
    ),
    "ja": (
        "アエセリアの暦は十三か月で、新年はランタン祭りとともに始まります。",
        "アエセリアの旅人は銀貨で支払い、金貨一枚は銀貨二十枚に相当します。",
        "アエセリアの放浪ギルドは、飛行船で八つの王国すべてに手紙を運びます。",
    ),
}

_EN_ANTONYMS = (("hot", "cold"), ("big", "small"), ("fast", "slow"), ("happy", "sad"), ("light", "dark"),
                ("early", "late"), ("strong", "weak"), ("open", "closed"), ("full", "empty"), ("loud", "quiet"),
                ("high", "low"), ("new", "old"), ("rich", "poor"), ("wet", "dry"))
_JA_ANTONYMS = (("暑い", "寒い"), ("大きい", "小さい"), ("速い", "遅い"), ("明るい", "暗い"), ("高い", "低い"),
                ("新しい", "古い"), ("強い", "弱い"), ("長い", "短い"), ("重い", "軽い"), ("広い", "狭い"),
                ("厚い", "薄い"), ("深い", "浅い"))
_EN_WORDS = ("fig", "kiwi", "pear", "plum", "apple", "lemon", "mango", "banana", "cherry", "orange", "apricot",
             "avocado", "coconut", "pineapple", "blueberry", "watermelon")
_JA_WORDS = ("ネコ", "トラ", "ウサギ", "キリン", "パンダ", "ライオン", "ペンギン", "カンガルー", "フラミンゴ",
             "ハリネズミ", "チンパンジー", "オランウータン")

_TEXT = {
    "en": {"question": "Question: {stem}", "is_option": " {value} is option {letter}.",
           "markers": ("Answer: {letter}",)},
    "ja": {"question": "問題: {stem}", "is_option": "{value}は選択肢 {letter} です。",
           "markers": ("答え: {letter}", "答え：{wide}", "正解は{letter}")},
}


def demo_passages(language: str | None = None) -> list[dict[str, str]]:
    """The lore passages of the demo data (one per kingdom, plus general ones), for pattern D."""
    passages = []
    for code in LANGUAGES if language is None else (language,):
        for english, japanese in _KINGDOMS:
            name, capital, guardian, founder, export = english if code == "en" else japanese
            if code == "en":
                text = (f"In Aetheria, the {name} has its capital at {capital}. A {guardian.lower()} guards its "
                        f"gates. It was founded by {founder} and is famous for exporting {export.lower()}.")
            else:
                text = (f"アエセリアの{name}の首都は{capital}です。{guardian}がその門を守っています。"
                        f"{founder}が建国し、{export}の輸出で有名です。")
            passages.append({"id": f"lore-{english[0].split()[0].lower()}-{code}", "language": code, "text": text})
        for number, text in enumerate(_GENERAL_PASSAGES[code], start=1):
            passages.append({"id": f"general-{number}-{code}", "language": code, "text": text})
    return passages


def _arithmetic(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    """(dedup key, stem, options, gold option, reasoning) for a sum, difference or product."""
    operation = rng.choice("+-×")
    if operation == "+":
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        value = a + b
        tens, ones = (a // 10 + b // 10) * 10, a % 10 + b % 10
        steps = [f"{a // 10 * 10} + {b // 10 * 10} = {tens}", f"{a % 10} + {b % 10} = {ones}",
                 f"{tens} + {ones} = {value}"]
        near = [value + 1, value - 1, value + 10, value - 10, value + 2]
    elif operation == "-":
        a = rng.randint(20, 99)
        b = rng.randint(2, a - 1)
        value = a - b
        middle = a - b // 10 * 10
        steps = ([f"{a} - {b // 10 * 10} = {middle}", f"{middle} - {b % 10} = {value}"] if b >= 10
                 else [f"{a} - {b} = {value}"])
        near = [value + 1, value - 1, value + 10, value - 10, value + 2]
    else:
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        value = a * b
        steps = [f"{a} × {b - 1} = {a * (b - 1)}", f"{a * (b - 1)} + {a} = {value}"]
        near = [value + a, value - a, value + b, value - b, value + 1]
    stem = (f"What is {a} {operation} {b}?" if language == "en" else f"{a} {operation} {b} はいくつですか？")
    distractors = rng.sample(sorted({n for n in near if n >= 0 and n != value}), 3)
    joiner = ". " if language == "en" else "。"
    reasoning = joiner.join(steps) + ("." if language == "en" else "。")
    return stem, stem, [str(value)] + [str(n) for n in distractors], str(value), reasoning


def _antonym(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    pairs = _EN_ANTONYMS if language == "en" else _JA_ANTONYMS
    word, opposite = rng.choice(pairs)
    if rng.random() < 0.5:
        word, opposite = opposite, word
    pool = sorted({w for pair in pairs for w in pair} - {word, opposite})
    options = [opposite] + rng.sample(pool, 3)
    if language == "en":
        stem = f'Which word means the opposite of "{word}"?'
        reasoning = f'"{word.capitalize()}" and "{opposite}" are opposites; the other words are unrelated to "{word}".'
    else:
        stem = f"「{word}」の反対の意味の言葉はどれですか？"
        reasoning = f"「{word}」と「{opposite}」は反対の意味です。ほかの言葉は「{word}」の反対ではありません。"
    return stem, stem, options, opposite, reasoning


def _longest(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    pool = _EN_WORDS if language == "en" else _JA_WORDS
    by_length: dict[int, list[str]] = {}
    for word in pool:
        by_length.setdefault(len(word), []).append(word)
    options = [rng.choice(by_length[length]) for length in rng.sample(sorted(by_length), 4)]
    longest = max(options, key=len)
    if language == "en":
        stem = "Which word has the most letters?"
        counts = ", ".join(f"{word} {len(word)}" for word in options)
        reasoning = f"Count the letters: {counts}. The longest is {longest} with {len(longest)}."
    else:
        stem = "次のうち、文字数が最も多い言葉はどれですか？"
        counts = "、".join(f"{word} {len(word)}" for word in options)
        reasoning = f"文字数を数えます: {counts}。最も多いのは{longest}の{len(longest)}文字です。"
    return stem + "|" + "|".join(sorted(options)), stem, options, longest, reasoning


def _lore(rng: random.Random, language: str) -> tuple[str, str, list[str], str, str]:
    column = 0 if language == "en" else 1
    kingdom = rng.randrange(len(_KINGDOMS))
    attribute = rng.choice(_LORE_ATTRIBUTES)
    position = 1 + _LORE_ATTRIBUTES.index(attribute)
    name = _KINGDOMS[kingdom][column][0]
    value = _KINGDOMS[kingdom][column][position]
    others = [entry[column][position] for index, entry in enumerate(_KINGDOMS) if index != kingdom]
    stem = _LORE_QUESTIONS[language][attribute].format(name=name)
    reasoning = _LORE_FACTS[language][attribute].format(name=name, value=value, value_lower=value.lower())
    return stem, stem, [value] + rng.sample(others, 3), value, reasoning


_FAMILIES = (("arithmetic", _arithmetic, 0.4), ("antonym", _antonym, 0.15), ("longest_word", _longest, 0.15),
             ("lore", _lore, 0.3))


def demo_rows(size: int, seed: int, language: str,
              on_progress: ProgressCallback | None = None) -> list[dict[str, Any]]:
    """Offline demo questions (arithmetic, antonyms, longest word, Aetheria lore), about half CoT.

    Deterministic for (size, seed, language); no question is repeated (lore and
    antonym questions run out after a few dozen, arithmetic fills the rest).
    """
    if language not in LANGUAGES:
        raise ValueError(f"unknown language {language!r}; choose from: {', '.join(LANGUAGES)}")
    if size < 0:
        raise ValueError(f"size must be non-negative, got {size}")
    rng = random.Random(f"{NAME}-{language}-{seed}")
    text = _TEXT[language]
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    attempts = 0
    while len(rows) < size:
        attempts += 1
        if attempts > 100 * size + 1000:
            raise ValueError(f"the demo generator ran out of distinct questions after {len(rows)} rows")
        family, make, _ = rng.choices(_FAMILIES, weights=[weight for *_, weight in _FAMILIES])[0]
        key, stem, options, gold, reasoning = make(rng, language)
        if key in seen:
            continue
        seen.add(key)
        rng.shuffle(options)
        letter = LETTERS[options.index(gold)]
        lines = [text["question"].format(stem=stem)] + [f"{LETTERS[i]}. {option}" for i, option in enumerate(options)]
        marker = rng.choice(text["markers"]).format(letter=letter, wide=chr(ord("Ａ") + LETTERS.index(letter)))
        mode = "cot" if rng.random() < 0.5 else "direct"
        if mode == "cot":
            conclusion = text["is_option"].format(value=gold[:1].upper() + gold[1:], letter=letter)
            output = f"{reasoning}{conclusion}\n{marker}"
        else:
            output = marker
        obj = {"id": f"mc-{language}-{seed}-{len(rows):05d}", "input": "\n".join(lines), "output": output,
               "meta": {"mode": mode, "language": language, "family": family, "source": "demo"}}
        rows.append(validate_row(obj, len(rows)))
        if on_progress:
            on_progress(len(rows), size)
    return rows


# -- the task object ---------------------------------------------------------------------

PRESETS = (
    TrainingPreset("A", "A: direct only", {"train_mode": "direct", "retrieval_context": False,
                                           "max_seq_length": 256}),
    TrainingPreset("B", "B: chain of thought only", {"train_mode": "cot", "retrieval_context": False,
                                                     "max_seq_length": 512}),
    TrainingPreset("C", "C: mixed (auto, per row)", {"train_mode": "auto", "retrieval_context": False,
                                                     "max_seq_length": 512}),
    # C plus retrieved passages, so C vs D isolates what the context adds.
    TrainingPreset("D", "D: mixed + retrieved context", {"train_mode": "auto", "retrieval_context": True,
                                                         "retrieval_top_k": 1, "max_seq_length": 768}),
)


class MultipleChoiceTask(common.TextAnswerTask):
    """multiple_choice behind the registry's protocol (pipeline.tasks.registry.Task); module functions do the work."""

    name = NAME
    label = "Multiple choice (direct / CoT)"
    languages = LANGUAGES
    headline_metric = "accuracy"
    higher_is_better = HIGHER_IS_BETTER
    verdict_metrics = ("accuracy",)
    clean_options = CLEAN_OPTIONS
    presets = PRESETS
    answer_fields = (AnswerField("letter", "choice", tuple(LETTERS)),)

    demo_rows = staticmethod(demo_rows)
    demo_passages = staticmethod(demo_passages)
    validate_row = staticmethod(validate_row)
    split = staticmethod(split)
    chat_messages = staticmethod(chat_messages)
    parse = staticmethod(parse_answer)
    metrics = staticmethod(metrics)
    charts = staticmethod(charts)

    def prepare_rows(self, rows: Sequence[dict[str, Any]], params: Mapping[str, Any],
                     passages: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Apply a preset's data flags: with "retrieval_context", prepend passages (the demo ones by default).

        Run it on every split (train, valid and the eval set) so that training and evaluation read the same input.
        """
        if not params.get("retrieval_context"):
            return [dict(row) for row in rows]
        return with_retrieved_context(rows, demo_passages() if passages is None else passages,
                                      int(params.get("retrieval_top_k", 1)))

    def clean(self, rows: Sequence[dict[str, Any]], options: Mapping[str, Any],
              on_progress: ProgressCallback | None = None) -> CleanResult:
        return clean(rows, options)

    def rule_baseline(self) -> OptionOverlapBaseline:
        return OptionOverlapBaseline()


TASK = MultipleChoiceTask()
