import random
import re
import string
import unicodedata
from collections import Counter

import pytest

from pipeline.tasks.hidden_params import AXES, constraints_for
from pipeline.tasks.hidden_params.teacher import LANGUAGES, TeacherOutput, TemplateTeacher, get_teacher, teacher_names

CORPUS_SIZE = 5000

# Leak patterns, written independently of the module under test.
EN_AXIS_NAMES = re.compile(r"\b(energy|warmth|brightness|acousticness|complexity|nostalgia)\b", re.IGNORECASE)
JA_AXIS_NAMES = re.compile(
    "エネルギー|温かさ|暖かさ|温かみ|明るさ|ブライトネス|アコースティック性|複雑さ|複雑性|ノスタルジー|ノスタルジア|懐かしさ"
)
ANY_DIGIT = re.compile(r"[0-9０-９]|\d")
EN_NUMBER_WORDS = re.compile(
    r"\b(zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen"
    r"|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million"
    r"|billion|twenties|thirties|forties|fifties|sixties|seventies|eighties|nineties|first|second|third|half|dozen"
    r"|percent)\b",
    re.IGNORECASE,
)
JA_NUMERALS = re.compile("[〇一二三四五六七八九十百千万億]|ゼロ|パーセント|割")
BRACKETS = re.compile(r"[{}\[\]]")
KEY_VALUE = re.compile(r"[\"'][^\"']*[\"']\s*:")
JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff66-\uff9f]")

MILD_WORDS = {
    "en": re.compile(r"\b(slightly|a bit|somewhat|fairly|a little|kind of|mildly|partly)\b"),
    "ja": re.compile("^(ちょっと|少し|やや|わりと|ほんのり|なんとなく|そこそこ|多少|ちょい)"),
}
# Japanese degree adverbs lead the phrase; anchoring keeps 冷ややか from reading as やや.
EXTREME_WORDS = {
    "en": re.compile(
        r"\b(extremely|super|incredibly|insanely|ridiculously|totally|completely|entirely|utterly|at all)\b"
    ),
    "ja": re.compile("^(めちゃくちゃ|めっちゃ|ものすごく|超|最高に|完全に|全然|まったく|とことん)"),
}


def random_target(rng):
    return {axis: rng.randint(0, 100) for axis in AXES}


def normalise(text):
    text = unicodedata.normalize("NFKC", text).lower()
    text = "".join(" " if unicodedata.category(char).startswith("P") else char for char in text)
    return " ".join(text.split())


@pytest.fixture(scope="module")
def corpus():
    """{language: [(target, output)]}, written with one seeded rng per language."""
    teacher = TemplateTeacher()
    rows = {}
    for language in LANGUAGES:
        rng = random.Random(f"corpus-{language}")
        rows[language] = [
            (target, teacher.write(target, language, rng))
            for target in (random_target(rng) for _ in range(CORPUS_SIZE))
        ]
    return rows


def test_it_is_the_registered_offline_default():
    teacher = get_teacher("template")
    assert isinstance(teacher, TemplateTeacher)
    assert teacher.name == "template"
    output = teacher.write({axis: 50 for axis in AXES}, "en", random.Random(0))
    assert isinstance(output, TeacherOutput)
    assert output.usage == {}


def test_the_template_teacher_is_listed_for_forms_and_clis():
    assert "template" in teacher_names()


def test_unknown_teacher_names_the_valid_choices():
    with pytest.raises(ValueError, match="template"):
        get_teacher("nope")


def test_unknown_language_is_rejected():
    with pytest.raises(ValueError, match="fr"):
        TemplateTeacher().write({axis: 50 for axis in AXES}, "fr", random.Random(0))


def test_an_invalid_target_is_rejected():
    with pytest.raises(ValueError):
        TemplateTeacher().write({"energy": 50}, "en", random.Random(0))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_salient_axis_is_expressed_by_a_phrase_in_the_text(corpus, language):
    for target, output in corpus[language]:
        expected = constraints_for(target)
        assert [(e["axis"], e["direction"]) for e in output.expressed] == [
            (c["axis"], c["direction"]) for c in expected
        ]
        for item in output.expressed:
            assert item["phrase"] and item["phrase"] in output.text, (item, output.text)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("value", [0, 35, 50, 65, 100])
def test_edge_targets_still_produce_a_valid_request(language, value):
    target = {axis: value for axis in AXES}
    output = TemplateTeacher().write(target, language, random.Random(value))
    assert len(output.expressed) == len(constraints_for(target))
    assert all(item["phrase"] in output.text for item in output.expressed)


def independent_leak(text, language):
    """The first leak pattern (written apart from the filter module) that matches, else None."""
    axis_names = EN_AXIS_NAMES if language == "en" else JA_AXIS_NAMES
    numbers = EN_NUMBER_WORDS if language == "en" else JA_NUMERALS
    for pattern in (axis_names, EN_AXIS_NAMES, ANY_DIGIT, numbers, BRACKETS, KEY_VALUE):
        match = pattern.search(text)
        if match:
            return match.group(0)
    return None


@pytest.mark.parametrize("language", LANGUAGES)
def test_nothing_leaks_the_numbers_or_the_axis_names(corpus, language):
    for _, output in corpus[language][:3000]:
        assert independent_leak(output.text, language) is None, output.text


def test_degree_words_follow_the_magnitude():
    teacher, rng = TemplateTeacher(), random.Random(3)
    for language in LANGUAGES:
        for axis in AXES:
            for value, forbidden in ((95, MILD_WORDS), (5, MILD_WORDS), (70, EXTREME_WORDS), (30, EXTREME_WORDS)):
                target = {other: 50 for other in AXES} | {axis: value}
                for _ in range(40):
                    phrase = teacher.write(target, language, rng).expressed[0]["phrase"]
                    assert not forbidden[language].search(phrase.lower()), (language, axis, value, phrase)


@pytest.mark.parametrize("language", LANGUAGES)
def test_scenes_never_contradict_the_target(corpus, language):
    boss = "boss battle" if language == "en" else "ボス戦"
    for target, output in corpus[language]:
        if target["energy"] < 65:
            assert boss not in output.text, output.text


@pytest.mark.parametrize("language", LANGUAGES)
def test_same_seed_same_texts_other_seed_other_texts(language):
    def texts(seed):
        rng = random.Random(seed)
        return [TemplateTeacher().write(random_target(rng), language, rng).text for _ in range(200)]

    assert texts(7) == texts(7)
    assert sum(a != b for a, b in zip(texts(7), texts(8))) > 190


@pytest.mark.parametrize("language", LANGUAGES)
def test_under_one_percent_exact_duplicates(corpus, language):
    normalised = [normalise(output.text) for _, output in corpus[language]]
    duplicates = len(normalised) - len(set(normalised))
    assert duplicates / len(normalised) < 0.01


def test_english_openings_vary(corpus):
    openings = set()
    for _, output in corpus["en"][:1000]:
        words = output.text.lower().translate(str.maketrans("", "", string.punctuation)).split()
        openings.add(tuple(words[:3]))
    assert len(openings) > 100


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_axis_and_direction_has_many_phrasings(corpus, language):
    phrasings = Counter()
    seen = set()
    for _, output in corpus[language]:
        for item in output.expressed:
            key = (item["axis"], item["direction"], item["phrase"].lower())
            if key not in seen:
                seen.add(key)
                phrasings[item["axis"], item["direction"]] += 1
    assert len(phrasings) == 2 * len(AXES)
    assert min(phrasings.values()) >= 8, phrasings
    assert phrasings["energy", "high"] >= 8


@pytest.mark.parametrize("language", LANGUAGES)
def test_lengths_within_bounds(corpus, language):
    low, high = {"en": (25, 280), "ja": (10, 140)}[language]
    assert all(low <= len(output.text) <= high for _, output in corpus[language])


def test_english_is_plain_ascii(corpus):
    for _, output in corpus["en"]:
        assert output.text.isascii(), output.text
        assert not JAPANESE_CHAR.search(output.text)


def test_japanese_is_mostly_japanese_script(corpus):
    for _, output in corpus["ja"]:
        letters = [
            char for char in output.text if not char.isspace() and not unicodedata.category(char).startswith("P")
        ]
        japanese = sum(bool(JAPANESE_CHAR.match(char)) for char in letters)
        assert japanese / len(letters) >= 0.5, output.text
