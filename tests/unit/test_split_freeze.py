import json
import random

import pytest

from pipeline.data.build_train_valid_test import STATS_FILE, write_splits
from pipeline.data.export import chat_record, prompt_completion_record
from pipeline.data.generate_frozen_eval_set import FrozenSetCorrupted, content_hash, freeze
from pipeline.data.jsonl import read_jsonl
from pipeline.tasks.hidden_params import AXES, TASK, parse
from pipeline.tasks.hidden_params.split import histogram, split_rows, split_stats


def make_rows(n, seed=0):
    rng = random.Random(seed)
    return [
        {"id": f"g{i:06d}", "request_text": f"request number {i}", "language": "en",
         "target": {axis: rng.randint(0, 100) for axis in AXES}, "constraints": []}
        for i in range(n)
    ]


def test_split_is_80_10_10_and_loses_nothing():
    splits = split_rows(make_rows(1003), seed=1)
    assert [len(splits[s]) for s in ("train", "valid", "test")] == [802, 100, 101]
    ids = [row["id"] for s in splits.values() for row in s]
    assert len(ids) == len(set(ids)) == 1003


def test_split_is_deterministic_for_a_seed_and_differs_across_seeds():
    rows = make_rows(200)
    first, again, other = split_rows(rows, 7), split_rows(rows, 7), split_rows(rows, 8)
    assert [r["id"] for r in first["test"]] == [r["id"] for r in again["test"]]
    assert [r["id"] for r in first["test"]] != [r["id"] for r in other["test"]]


def test_bad_ratios_are_refused():
    with pytest.raises(ValueError, match="sum"):
        split_rows(make_rows(10), 0, ratios=(0.5, 0.5, 0.5))


def test_histogram_puts_100_in_the_last_bin():
    assert histogram([0, 9, 10, 99, 100]) == [2, 1, 0, 0, 0, 0, 0, 0, 0, 2]


def test_stats_file_and_exports_are_written(tmp_path):
    splits = split_rows(make_rows(100), 0)
    stats = split_stats(splits, {"too_short": 3})
    write_splits(tmp_path, TASK, splits, stats)
    on_disk = json.loads((tmp_path / STATS_FILE).read_text())
    assert on_disk["counts"] == {"train": 80, "valid": 10, "test": 10, "total": 100}
    assert on_disk["dropped_by_reason"] == {"too_short": 3}
    assert sum(on_disk["histograms"]["all"]["energy"]) == 100
    chat = read_jsonl(tmp_path / "chat_train.jsonl")
    assert len(chat) == 80 and [m["role"] for m in chat[0]["messages"]] == ["system", "user", "assistant"]
    assert parse(chat[0]["messages"][2]["content"]) == tuple(splits["train"][0]["target"].values())
    pc = read_jsonl(tmp_path / "prompt_completion_test.jsonl")
    assert pc[0]["completion"][0]["role"] == "assistant" and pc[0]["prompt"][-1]["role"] == "user"
    # The task's split files are the export formats of pipeline.data.export.
    assert chat[0] == chat_record(TASK, splits["train"][0])
    assert pc[0] == prompt_completion_record(TASK, splits["test"][0])
    assert TASK.split(make_rows(100), 0) == splits and TASK.split_stats(splits, {"too_short": 3}) == stats


def test_freeze_names_the_set_by_content_and_never_overwrites(tmp_path):
    test_rows = make_rows(20)
    first = freeze(test_rows, tmp_path)
    assert first.created and first.path.name == f"{content_hash(test_rows)}.jsonl"
    assert oct(first.path.stat().st_mode)[-3:] == "444"
    before = first.path.read_bytes()
    again = freeze(test_rows, tmp_path)
    assert not again.created and again.path == first.path and again.path.read_bytes() == before


def test_a_different_test_split_gets_a_different_hash(tmp_path):
    a, b = make_rows(20, seed=1), make_rows(20, seed=2)
    assert freeze(a, tmp_path).content_hash != freeze(b, tmp_path).content_hash
    assert len(list(tmp_path.glob("*.jsonl"))) == 2


def test_a_tampered_frozen_file_is_detected_not_rewritten(tmp_path):
    rows = make_rows(5)
    frozen = freeze(rows, tmp_path)
    frozen.path.chmod(0o644)
    frozen.path.write_text("tampered\n")
    with pytest.raises(FrozenSetCorrupted):
        freeze(rows, tmp_path)
    assert frozen.path.read_text() == "tampered\n"


def test_hash_ignores_ids_but_not_targets():
    rows = make_rows(3)
    renamed = [{**row, "id": "other"} for row in rows]
    changed = [dict(rows[0], target={**rows[0]["target"], "energy": (rows[0]["target"]["energy"] + 1) % 101}), *rows[1:]]
    assert content_hash(rows) == content_hash(renamed)
    assert content_hash(rows) != content_hash(changed)
