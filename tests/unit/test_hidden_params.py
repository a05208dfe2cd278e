import pytest

from pipeline.tasks import hidden_params as hp

VALID = '{"energy":42,"warmth":77,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}'


def test_it_parses_the_canonical_output():
    assert hp.parse(VALID) == (42, 77, 39, 81, 28, 74)


def test_it_trims_surrounding_whitespace_only():
    assert hp.parse(f"  \n{VALID}\n ") == (42, 77, 39, 81, 28, 74)


@pytest.mark.parametrize(
    "output, why",
    [
        ('{"warmth":77,"energy":42,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}', "order"),
        ('{"energy":42,"warmth":77,"brightness":39,"acousticness":81,"complexity":28}', "missing key"),
        (VALID[:-1] + ',"tempo":3}', "extra key"),
        ('{"energy":42.0,"warmth":77,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}', "float"),
        ('{"energy":"42","warmth":77,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}', "string"),
        ('{"energy":true,"warmth":77,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}', "bool"),
        ('{"energy":101,"warmth":77,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}', "> 100"),
        ('{"energy":-1,"warmth":77,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}', "< 0"),
        ('{"energy":1,"energy":1,"warmth":77,"brightness":39,"acousticness":81,"complexity":28,"nostalgia":74}', "dup"),
        ("Sure! " + VALID, "prose before"),
        (VALID + " hope that helps", "prose after"),
        ("```json\n" + VALID + "\n```", "code fence"),
        ('[["energy",42],["warmth",77],["brightness",39],["acousticness",81],["complexity",28],["nostalgia",74]]', "array"),
        ("", "empty"),
    ],
)
def test_it_rejects_anything_not_strict(output, why):
    assert hp.parse(output) is None, why


def test_invalid_output_counts_as_the_neutral_vector():
    assert hp.parse_or_neutral("garbage") == ((50,) * 6, False)
    assert hp.parse_or_neutral(VALID) == ((42, 77, 39, 81, 28, 74), True)


def test_format_target_round_trips_through_the_strict_parser():
    target = {"energy": 0, "warmth": 100, "brightness": 5, "acousticness": 50, "complexity": 64, "nostalgia": 35}
    text = hp.format_target(target)
    assert text == '{"energy":0,"warmth":100,"brightness":5,"acousticness":50,"complexity":64,"nostalgia":35}'
    assert hp.parse(text) == tuple(target.values())


def test_constraints_follow_the_salience_thresholds():
    target = {"energy": 65, "warmth": 64, "brightness": 35, "acousticness": 36, "complexity": 100, "nostalgia": 0}
    assert hp.constraints_for(target) == [
        {"axis": "energy", "direction": "high"},
        {"axis": "brightness", "direction": "low"},
        {"axis": "complexity", "direction": "high"},
        {"axis": "nostalgia", "direction": "low"},
    ]


def test_chat_messages_put_the_strict_json_in_the_assistant_turn():
    messages = hp.chat_messages("something cozy", [1, 2, 3, 4, 5, 6])
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert messages[1]["content"] == "something cozy"
    assert hp.parse(messages[2]["content"]) == (1, 2, 3, 4, 5, 6)
    assert all(axis in messages[0]["content"] for axis in hp.AXES)
    assert len(hp.chat_messages("x")) == 2


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"request_text": "", "energy": 1}, "request_text"),
        ({"request_text": "hi", "energy": 1}, "missing axes: warmth"),
        ({"request_text": "hi", **dict.fromkeys(hp.AXES, 50), "energy": 120}, "energy must be between 0 and 100"),
        ({"request_text": "hi", **dict.fromkeys(hp.AXES, 50), "warmth": "hot"}, "warmth must be an integer"),
        (["not", "an", "object"], "expected a JSON object"),
    ],
)
def test_record_from_json_names_the_problem(obj, message):
    with pytest.raises(ValueError, match=message):
        hp.record_from_json(obj)


def test_record_from_json_accepts_a_nested_target():
    text, target = hp.record_from_json({"request_text": " calm ", "target": dict.fromkeys(hp.AXES, 7)})
    assert text == "calm" and target == dict.fromkeys(hp.AXES, 7)
