"""evaluate (the six-parameter task): batching, callbacks, per-example rows, provenance, long-format rows, and the
two CLIs."""

import json

import pytest

from pipeline.data.generate_frozen_eval_set import content_hash
from pipeline.data.jsonl import read_json, read_jsonl, write_jsonl
from pipeline.eval import aggregate_metrics
from pipeline.eval import run_eval as run_eval_cli
from pipeline.eval.metrics import CostModel
from pipeline.eval.predictors import build_predictor
from pipeline.eval.runner import EvalStopped, code_commit, evaluate, metric_rows
from pipeline.tasks.hidden_params import AXES, TASK, constraints_for, format_target, parse
from pipeline.tasks.hidden_params.rules import RuleBaseline
from pipeline.tasks.predictors import Prediction

TARGETS = [
    (80, 20, 50, 50, 50, 50),  # neutral errors: 30 30 0 0 0 0
    (50, 50, 50, 50, 50, 50),  # 0
    (0, 100, 10, 90, 45, 55),  # 50 50 40 40 5 5
]


def examples():
    texts = ["fast and cold", "something", "slow, warm, dark, acoustic"]
    return [
        {
            "request_text": text,
            "language": "en",
            "target": dict(zip(AXES, target)),
            "constraints": constraints_for(target),
        }
        for text, target in zip(texts, TARGETS)
    ]


class Recording:
    """A predictor that answers a fixed string and remembers its batches."""

    name, model_id, adapter = "recording", "fake/model", "adapters/x"

    def __init__(self, raw="not json at all"):
        self.raw = raw
        self.batches = []

    def predict(self, texts):
        self.batches.append(list(texts))
        return [Prediction(raw=self.raw, latency_ms=float(len(self.batches))) for _ in texts]


def test_a_garbage_predictor_gets_no_valid_json_and_exactly_the_neutral_errors():
    result = evaluate(TASK, Recording("Sure! Here you go: energy=high"), examples(), commit="abc")
    metrics = result.metrics
    assert metrics["json_valid_rate"] == 0.0
    assert metrics["vector_mae"] == pytest.approx((60 + 0 + 190) / 18)
    assert metrics["mse_raw"] == pytest.approx((1800 + 0 + 2 * 2500 + 2 * 1600 + 2 * 25) / 18)
    assert metrics["intent_score_mean"] == 0.5
    assert metrics["constraint_match_rate"] == 0.0  # 50 satisfies neither >= 55 nor <= 45
    assert metrics["slot_exact_match"] == pytest.approx(1 / 3)  # only the all-50 target
    assert all(row["parsed"] is None and row["valid"] is False for row in result.rows)


def test_it_predicts_in_batches_after_one_warmup_request_and_reports_progress():
    predictor = Recording(format_target((50,) * 6))
    progress = []
    evaluate(TASK, predictor, examples() * 2, batch_size=4,
             on_progress=lambda done, total: progress.append((done, total)))
    assert [len(batch) for batch in predictor.batches] == [1, 4, 2]
    assert progress == [(4, 6), (6, 6)]


def test_without_warmup_every_call_is_scored():
    predictor = Recording()
    evaluate(TASK, predictor, examples(), batch_size=2, warmup=False)
    assert [len(batch) for batch in predictor.batches] == [2, 1]


def test_should_stop_raises_instead_of_returning_partial_metrics():
    calls = []

    def stop_after_first_batch():
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(EvalStopped, match="after 2 of 3"):
        evaluate(TASK, Recording(), examples(), batch_size=2, should_stop=stop_after_first_batch)


def test_a_predictor_that_drops_answers_is_an_error():
    class Short(Recording):
        def predict(self, texts):
            return super().predict(texts)[:-1]

    with pytest.raises(RuntimeError, match="returned 1 predictions for 2"):
        evaluate(TASK, Short(), examples(), batch_size=2, warmup=False)


def test_rows_and_provenance_with_the_rule_baseline():
    logs = []
    result = evaluate(TASK,
        RuleBaseline(),
        examples(),
        on_log=logs.append,
        cost=CostModel.free(),
        dataset_version="ds-7",
        seed=3,
        commit="deadbeef",
        extra_provenance={"decode": "free"},
    )
    assert len(result.rows) == 3
    row = result.rows[2]
    assert row["request_text"] == "slow, warm, dark, acoustic"
    assert row["valid"] is True
    assert row["target"] == dict(zip(AXES, TARGETS[2]))
    assert row["parsed"]["energy"] < 50 and row["parsed"]["acousticness"] > 50
    assert row["abs_errors"] == {axis: abs(row["parsed"][axis] - row["target"][axis]) for axis in AXES}
    assert row["mean_abs_error"] == pytest.approx(sum(row["abs_errors"].values()) / 6)
    assert result.metrics["json_valid_rate"] == 1.0
    assert result.metrics["cost_per_100_requests_usd"] == 0.0
    assert result.provenance == {
        "predictor": "rule_baseline",
        "model_id": "rules",
        "adapter": None,
        "eval_set_hash": content_hash(examples()),
        "dataset_version": "ds-7",
        "code_commit": "deadbeef",
        "seed": 3,
        "time": result.provenance["time"],
        "task": "hidden_params",
        "decode": "free",
    }
    assert len(logs) == 2 and "json_valid_rate 1.000" in logs[1]


def test_extra_provenance_cannot_rewrite_the_required_fields():
    with pytest.raises(ValueError, match="eval_set_hash"):
        evaluate(TASK, RuleBaseline(), examples(), extra_provenance={"eval_set_hash": "mine"})


def test_metric_rows_are_long_format_with_provenance_and_skip_unknown_values():
    provenance = {"predictor": "p", "eval_set_hash": "h", "time": "2026-01-01T00:00:00+00:00"}
    rows = metric_rows({"vector_mae": 12.5, "cost_per_100_requests_usd": None, "n_examples": 3}, provenance)
    assert rows == [
        {"key": "vector_mae", "value": 12.5, "step": 0, **provenance},
        {"key": "n_examples", "value": 3.0, "step": 0, **provenance},
    ]


def test_code_commit_is_none_outside_a_git_checkout(tmp_path):
    assert code_commit(tmp_path) is None


def test_run_eval_cli_writes_rows_and_metrics(tmp_path, capsys):
    eval_set = write_jsonl(tmp_path / "frozen.jsonl", examples())
    out = tmp_path / "results" / "rule.jsonl"
    run_eval_cli.main(["--mode", "rule_baseline", "--eval-set", str(eval_set), "--out", str(out), "--seed", "1"])
    assert len(read_jsonl(out)) == 3
    saved = read_json(tmp_path / "results" / "rule.metrics.json")
    assert saved["provenance"]["predictor"] == "rule_baseline"
    assert saved["provenance"]["eval_set_hash"] == content_hash(examples())
    assert saved["metrics"]["json_valid_rate"] == 1.0
    assert "wrote 3 rows" in capsys.readouterr().out


def test_run_eval_cli_takes_the_mode_from_eval_mode(tmp_path, monkeypatch):
    monkeypatch.setenv("EVAL_MODE", "rule_baseline")
    eval_set = write_jsonl(tmp_path / "frozen.jsonl", examples())
    run_eval_cli.main(["--eval-set", str(eval_set), "--out", str(tmp_path / "r.jsonl")])
    assert (tmp_path / "r.metrics.json").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mode", "oracle"], "must be one of"),
        (["--mode", "fine_tuned"], "fine_tuned needs an adapter"),
        (["--mode", "rule_baseline", "--adapter", "a"], "takes no model options"),
    ],
)
def test_run_eval_cli_rejects_bad_modes(tmp_path, monkeypatch, capsys, argv, message):
    monkeypatch.delenv("EVAL_MODE", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        run_eval_cli.main([*argv, "--eval-set", "x.jsonl", "--out", str(tmp_path / "r.jsonl")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_model_modes_build_real_predictors_from_a_local_model(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from tests.tiny_model import make_tiny_llama

    base = make_tiny_llama(tmp_path / "tiny", [row["request_text"] for row in examples()] + [format_target([1] * 6)])
    adapter = tmp_path / "adapter"
    get_peft_model(AutoModelForCausalLM.from_pretrained(base), LoraConfig(r=4, target_modules=["q_proj", "v_proj"])
                   ).save_pretrained(adapter)
    train = write_jsonl(tmp_path / "train.jsonl", examples())

    tuned = build_predictor(TASK, "fine_tuned", model_name=str(base), adapter=str(adapter), decode="constrained")
    assert (tuned.name, tuned.model_id, tuned.adapter) == ("fine_tuned", str(base), str(adapter))
    baseline = build_predictor(TASK, "prompt_baseline", model_name=str(base), few_shot_rows=read_jsonl(train),
                               few_shot_k=2)
    assert baseline.name == "prompt_baseline" and len(baseline.few_shot) == 2 and baseline.adapter is None
    for predictor in (tuned, baseline):
        answer = predictor.predict([examples()[0]["request_text"]])[0]
        assert parse(answer.raw) is not None and answer.latency_ms > 0


def test_fine_tuned_needs_an_adapter():
    with pytest.raises(ValueError, match="fine_tuned needs an adapter"):
        build_predictor(TASK, "fine_tuned", model_name="m")


@pytest.mark.parametrize("module", [run_eval_cli, aggregate_metrics])
def test_clis_have_help(module, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module.main(["--help"])
    assert exit_info.value.code == 0
    assert "usage:" in capsys.readouterr().out


def test_aggregate_metrics_puts_runs_side_by_side(tmp_path, capsys):
    results = tmp_path / "results"
    for name, mae in (("rule_baseline", 20.0), ("fine_tuned", 8.5)):
        payload = {"provenance": {"predictor": name, "eval_set_hash": "h1"}, "metrics": {"vector_mae": mae}}
        (results / f"{name}.metrics.json").parent.mkdir(exist_ok=True)
        (results / f"{name}.metrics.json").write_text(json.dumps(payload))
    aggregate_metrics.main([str(results), "--out", str(tmp_path / "summary.json")])
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["fine_tuned", "rule_baseline"]  # sorted file names
    assert table[1].split() == ["vector_mae", "↓", "8.5", "20"]
    summary = read_json(tmp_path / "summary.json")
    assert summary["columns"] == ["fine_tuned", "rule_baseline"]
    assert summary["eval_set_hashes"] == ["h1"]


def test_aggregate_metrics_warns_about_mixed_eval_sets_and_repeated_predictors():
    runs = [
        {"source": "a", "provenance": {"predictor": "fine_tuned", "eval_set_hash": "h1"}, "metrics": {"mse_norm": 0.1}},
        {"source": "b", "provenance": {"predictor": "fine_tuned", "eval_set_hash": "h2"}, "metrics": {"mse_norm": 0.2}},
    ]
    table = aggregate_metrics.format_table(runs)
    assert "fine_tuned#2" in table
    assert "2 different eval sets" in table
