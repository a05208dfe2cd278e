"""A loop that closes (issue 14): fixed yardsticks, a field set of real requests, accumulating data, decontaminated
training splits and a no-regression gate, through real workers with a tiny model."""

import pytest

from pipeline.data.decontaminate import decontaminate
from pipeline.data.jsonl import read_jsonl
from pipeline.tasks.registry import get_task
from tests.conftest import wait_for
from tests.factories import loop_done
from tests.tiny_model import make_tiny_llama
from webapp.datasets import field
from webapp.datasets.models import FrozenEvalSet
from webapp.runs import loops
from webapp.runs.models import Cycle, StageRun

pytestmark = pytest.mark.integration
Kind = StageRun.Kind
VALUES = {"energy": 85, "warmth": 20, "brightness": 70, "acousticness": 15, "complexity": 60, "nostalgia": 30}
PLACES = ("arena", "harbor", "desert camp", "sky castle", "neon alley", "frozen lake", "jungle temple", "space port")
MOODS = ("punchy and bright", "fierce and shiny", "bold and sparkling", "wild and glowing", "sharp and sunny")
# Real-sounding requests without digits (the filter drops numbers as leaks).
REQUESTS = [f"Loud synth music for the {place}, make it {mood}" for place in PLACES for mood in MOODS]


def frozen_texts(task):
    return [task.text(row) for frozen in FrozenEvalSet.objects.filter(task_type=task.name)
            for row in read_jsonl(frozen.path)]


def test_a_two_cycle_loop_closes_on_fixed_yardsticks_and_catches_a_regression(start_worker, tmp_path, capsys):
    task = get_task("hidden_params")
    start_worker()
    to_field = [text for text in REQUESTS if field.assign(text) == "field"][:6]
    to_train = next(text for text in REQUESTS if field.assign(text) == "train")
    assert field.assign(to_train) == "train" and all(field.assign(text) == "field" for text in to_field)  # stable
    for text in [*to_field, to_train]:
        field.label_request(task, text, VALUES, language="en", origin="correction")
    texts = [row["request_text"] for row in task.generate(size=200, seed=0, language="en").rows]
    base = str(make_tiny_llama(tmp_path / "tiny", texts))
    # Cycle 2 is made worse on purpose: one step at the smallest learning rate the forms take leaves its head as
    # the seed initialised it, whose outputs sit at their bounds (on the tiny model the synthetic set's vector_mae
    # goes from about 27 to about 41 for training seeds 1-3; a large learning rate was not reliably worse).
    loop = loops.start_loop(
        name="closing loop", cycles=2,
        data={"task": "hidden_params", "size": 150, "seed": 1, "language": "en", "teacher": "template"},
        training={"trainer": "reg_head", "model_name": base, "max_steps": 60, "learning_rate": 2e-2, "batch_size": 8,
                  "eval_steps": 15, "lora_r": 8},
        evaluation={"decode": "constrained"}, cycle_training={"2": {"max_steps": 1, "learning_rate": 1e-7}})
    assert wait_for(lambda: loop_done(loop), timeout=900, message="the loop") is True, [
        (r.kind, r.params.get("predictor"), r.error) for r in
        StageRun.objects.filter(cycle__loop=loop).exclude(status=StageRun.Status.SUCCESS)]
    first, second = Cycle.objects.filter(loop=loop).order_by("index")

    # One synthetic set and one field set, the same for both cycles, by hash.
    def hashes(cycle):
        return {run.result["provenance"]["eval_set_hash"] for run in cycle.runs.filter(kind=Kind.EVALUATE)}
    assert hashes(first) == hashes(second) and len(hashes(first)) == 2
    kinds = {frozen.kind for frozen in second.yardsticks.all()}
    assert kinds == {"synthetic", "field"} and set(first.yardsticks.all()) == set(second.yardsticks.all())
    field_set = second.yardsticks.get(kind="field")
    assert sorted(row["request_text"] for row in read_jsonl(field_set.path)) == sorted(to_field)
    reused = [run for run in second.runs.filter(kind=Kind.EVALUATE) if run.params["predictor"] != "fine_tuned"]
    assert reused and all(run.result.get("reused_from") for run in reused)  # the baselines were not recomputed

    # Cycle 2 accumulates cycle 1's rows, plus new ones; the labelled request trains (cycle 1 claimed it).
    assert second.dataset.parent == first.dataset and not second.dataset.frozen_eval_set
    ids = {name: {row["id"] for row in read_jsonl(cycle.dataset.directory / "train.jsonl")}
           for name, cycle in (("first", first), ("second", second))}
    assert ids["first"] < ids["second"]
    assert second.dataset.lineage["generated"] > 0 and second.dataset.lineage["inherited"] > 0
    first_train = read_jsonl(first.dataset.directory / "train.jsonl")
    assert [row["request_text"] for row in first_train if row.get("teacher") == "labelled:correction"] == [to_train]

    # No text of any frozen set, exact or near, in any training split.
    for cycle in (first, second):
        for split in ("train", "valid"):
            rows = read_jsonl(cycle.dataset.directory / f"{split}.jsonl")
            assert decontaminate(rows, frozen_texts(task), task.text)[1] == []

    # The no-regression gate fails on the synthetic set for the model made worse.
    regression = [verdict for verdict in second.verdicts if verdict["criterion"]["key"] == "no_regression"]
    synthetic = next(verdict for verdict in regression if verdict["yardstick"]["kind"] == "synthetic")
    assert synthetic["passed"] is False and "beyond the tolerance" in synthetic["reason"], [
        (verdict.get("yardstick"), verdict["criterion"]["key"], verdict["reason"]) for verdict in second.verdicts]
    assert all(verdict["passed"] is None for verdict in first.verdicts
               if verdict["criterion"]["key"] == "no_regression")

    # The main job's ending: a failed last verdict promotes nothing and says which criteria failed.
    from webapp.launch import ship_if_passed
    from webapp.serving.models import Release

    assert ship_if_passed(loop, None, "http://127.0.0.1:9/", lambda: None) is False
    out = capsys.readouterr().out
    assert "Nothing promoted" in out and "no_regression [synthetic set" in out
    assert not Release.objects.exists()
