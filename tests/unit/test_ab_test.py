"""A/B test statistics: McNemar by hand and from a textbook, the sign test, the paired bootstrap, latency,
pairing rules; four_class (0/1 errors) and the six-parameter task (continuous errors)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.data.jsonl import write_jsonl
from pipeline.eval.ab_test import ab_test
from pipeline.eval.paired import mcnemar, paired_bootstrap, paired_test, sign_test
from pipeline.eval.runner import evaluate
from pipeline.tasks.four_class import TASK, label_indices
from pipeline.tasks.registry import get_task

ROOT = Path(__file__).resolve().parents[2]
GOLD = ["ALLOW", "ALLOW", "ALLOW", "DENY", "DENY", "REFUSE", "REFUSE", "ESCALATION", "ESCALATION", "ESCALATION"]
# A gets 7 of 10 right; B gets 9: B fixes items 3, 7 and 8 and breaks item 0.
PRED_A = ["ALLOW", "ALLOW", "ALLOW", "ALLOW", "DENY", "REFUSE", "REFUSE", "ALLOW", "ALLOW", "ESCALATION"]
PRED_B = ["DENY", "ALLOW", "ALLOW", "DENY", "DENY", "REFUSE", "REFUSE", "ESCALATION", "ESCALATION", "ESCALATION"]


def rows(predicted, latencies=None, gold=GOLD):
    latencies = latencies or [10.0] * len(gold)
    return [{"id": f"t{index}", "answer": answer, "parsed": label, "raw": label or "?", "latency_ms": latency}
            for index, (answer, label, latency) in enumerate(zip(gold, predicted, latencies))]


def test_mcnemar_reproduces_agrestis_presidential_approval_example():
    """Agresti, Categorical Data Analysis, table 10.1: 150 switched to disapprove, 86 to approve."""
    result = mcnemar(150, 86)

    assert result["method"] == "chi2_continuity_corrected"
    assert result["statistic"] == pytest.approx((64 - 1) ** 2 / 236)  # 16.82
    assert result["p_value"] == pytest.approx(4.1146e-5, rel=1e-4)


def test_mcnemar_is_exact_below_25_discordant_pairs():
    # 2 P(X <= 2), X ~ Bin(10, 1/2) = 2 (1 + 10 + 45) / 1024
    assert mcnemar(2, 8) == {"b": 2, "c": 8, "method": "exact_binomial", "statistic": 2.0, "p_value": 112 / 1024}
    assert mcnemar(5, 0)["p_value"] == pytest.approx(2 / 32)
    assert mcnemar(0, 0)["p_value"] == 1.0
    assert mcnemar(12, 12)["method"] == "exact_binomial" and mcnemar(12, 12)["p_value"] == 1.0
    assert mcnemar(13, 12)["method"] == "chi2_continuity_corrected"
    with pytest.raises(ValueError):
        mcnemar(-1, 3)


def test_identical_predictors_give_zero_deltas_and_degenerate_intervals():
    result = ab_test(TASK, rows(PRED_A), rows(PRED_A), resamples=300)

    for metric in ("accuracy", "macro_f1", "false_allow_rate"):
        assert result["metrics"][metric]["delta"] == 0.0
        assert result["metrics"][metric]["ci_low"] == result["metrics"][metric]["ci_high"] == 0.0
    assert result["test"]["b"] == result["test"]["c"] == 0 and result["test"]["p_value"] == 1.0
    assert result["latency"]["ratio_p95"] == 1.0
    assert result["charts"]["a"]["confusion"] == result["charts"]["b"]["confusion"]


def test_deltas_are_b_minus_a_with_an_interval_around_the_observed_delta():
    result = ab_test(TASK, rows(PRED_A), rows(PRED_B), "in service", "fine-tuned", resamples=2000, seed=5)

    accuracy = result["metrics"]["accuracy"]
    assert (accuracy["a"], accuracy["b"], accuracy["delta"]) == (0.7, 0.9, pytest.approx(0.2))
    assert accuracy["ci_low"] <= 0.2 <= accuracy["ci_high"] and accuracy["ci_low"] < accuracy["ci_high"]
    # Gold non-ALLOW items: 7; A let 3 through as ALLOW, B none.
    false_allow = result["metrics"]["false_allow_rate"]
    assert (false_allow["a"], false_allow["b"], false_allow["delta"]) == (pytest.approx(3 / 7), 0.0,
                                                                          pytest.approx(-3 / 7))
    assert false_allow["ci_low"] <= false_allow["delta"] <= false_allow["ci_high"] <= 0.0
    macro = result["metrics"]["macro_f1"]
    assert macro["ci_low"] <= macro["delta"] <= macro["ci_high"]
    assert result["predictors"] == {"a": "in service", "b": "fine-tuned"}
    assert result["test"] == {"name": "mcnemar", "b": 1, "c": 3, "method": "exact_binomial", "statistic": 1.0,
                                 "p_value": pytest.approx(2 * 5 / 16)}
    assert result["n_examples"] == 10
    assert result["bootstrap"] == {"resamples": 2000, "seed": 5, "confidence": 0.95}
    json.dumps(result)


def test_the_bootstrap_is_seeded_and_matches_a_per_item_recount():
    gold, pred_a = label_indices(GOLD, PRED_A)
    _, pred_b = label_indices(GOLD, PRED_B)

    deltas = paired_bootstrap(TASK.metrics, rows(PRED_A), rows(PRED_B), resamples=500, seed=9)

    draws = np.random.default_rng(9).integers(0, len(GOLD), size=(500, len(GOLD)))
    per_item = (pred_b == gold).astype(float) - (pred_a == gold).astype(float)
    assert np.allclose(deltas["accuracy"], per_item[draws].mean(axis=1))
    again = paired_bootstrap(TASK.metrics, rows(PRED_A), rows(PRED_B), resamples=500, seed=9)
    assert all(np.array_equal(deltas[key], again[key], equal_nan=True) for key in deltas)


def test_a_candidate_that_only_fixes_items_has_a_non_negative_interval():
    gold = ["DENY"] * 30
    result = ab_test(TASK, rows(["ALLOW"] * 10 + ["DENY"] * 20, gold=gold), rows(["DENY"] * 30, gold=gold),
                     resamples=500)

    accuracy = result["metrics"]["accuracy"]
    assert accuracy["delta"] == pytest.approx(1 / 3) and accuracy["ci_low"] > 0
    assert result["metrics"]["false_allow_rate"]["ci_high"] < 0
    assert result["test"]["b"] == 0 and result["test"]["c"] == 10
    assert result["test"]["p_value"] == pytest.approx(2 / 1024)


def test_scores_undefined_on_the_test_set_are_none():
    gold = ["ALLOW"] * 6
    result = ab_test(TASK, rows(["ALLOW"] * 6, gold=gold), rows(["ALLOW"] * 5 + [None], gold=gold), resamples=50)

    false_allow = result["metrics"]["false_allow_rate"]
    assert false_allow == {"a": None, "b": None, "delta": None, "ci_low": None, "ci_high": None,
                           "resamples_defined": 0, "higher_is_better": False}
    assert result["charts"]["b"]["confusion"]["invalid"] == [1, 0, 0, 0]
    json.dumps(result)


def test_latency_percentiles_and_ratios():
    result = ab_test(TASK, rows(PRED_A, latencies=[float(v) for v in range(1, 11)]),
                     rows(PRED_B, latencies=[float(2 * v) for v in range(1, 11)]), resamples=10)

    assert result["latency"]["p50_ms"] == {"a": 5.0, "b": 10.0}
    assert result["latency"]["p95_ms"] == {"a": 10.0, "b": 20.0}
    assert result["latency"]["ratio_p50"] == result["latency"]["ratio_p95"] == 2.0


def test_rows_pair_by_id_in_any_order_and_must_cover_the_same_items():
    shuffled = rows(PRED_B)
    random.Random(0).shuffle(shuffled)
    delta = ab_test(TASK, rows(PRED_A), shuffled, resamples=20)["metrics"]["accuracy"]["delta"]
    assert delta == pytest.approx(0.2)

    with pytest.raises(ValueError, match="not evaluated on the same items"):
        ab_test(TASK, rows(PRED_A), rows(PRED_B)[:-1], resamples=20)
    other_gold = rows(PRED_B, gold=["ALLOW"] * 10)
    with pytest.raises(ValueError, match="not the same test set"):
        ab_test(TASK, rows(PRED_A), other_gold, resamples=20)
    with pytest.raises(ValueError, match="resamples"):
        ab_test(TASK, rows(PRED_A), rows(PRED_B), resamples=0)


def test_the_cli_compares_two_eval_row_files(tmp_path):
    write_jsonl(tmp_path / "a.jsonl", rows(PRED_A))
    write_jsonl(tmp_path / "b.jsonl", rows(PRED_B))
    completed = subprocess.run(
        [sys.executable, "-m", "pipeline.eval.ab_test", "--task", "four_class", "--a", str(tmp_path / "a.jsonl"),
         "--b", str(tmp_path / "b.jsonl"), "--resamples", "200", "--out", str(tmp_path / "ab.json")],
        cwd=ROOT, capture_output=True, text=True, check=True)

    assert "McNemar (exact_binomial): b=1 c=3" in completed.stdout
    assert json.loads((tmp_path / "ab.json").read_text())["metrics"]["accuracy"]["delta"] == pytest.approx(0.2)


def test_the_mean_error_gets_an_interval_and_zero_one_errors_get_mcnemar():
    result = ab_test(TASK, rows(PRED_A), rows(PRED_B), resamples=500, seed=1)

    error = result["error"]
    assert (error["a"], error["b"], error["delta"]) == (pytest.approx(0.3), pytest.approx(0.1), pytest.approx(-0.2))
    assert error["ci_low"] <= -0.2 <= error["ci_high"] and error["higher_is_better"] is False
    assert result["test"]["name"] == "mcnemar" and result["task"] == "four_class"
    assert result["metrics"]["accuracy"]["higher_is_better"] and not result["metrics"]["false_allow_rate"][
        "higher_is_better"]


def test_the_sign_test_is_exact_and_drops_ties():
    # 1 of 9 non-zero differences negative: 2 P(X <= 1), X ~ Bin(9, 1/2) = 2 * 10 / 512
    assert sign_test([1.0] * 8 + [-2.0, 0.0, 0.0]) == {"method": "sign_test_exact", "positive": 8, "negative": 1,
                                                        "ties": 2, "statistic": 1.0, "p_value": 20 / 512}
    assert sign_test([0.0, 0.0])["p_value"] == 1.0


def test_continuous_errors_get_a_signed_rank_or_sign_test_instead_of_mcnemar(monkeypatch):
    errors_a, errors_b = [10.0, 12.0, 8.0, 15.0, 9.0, 11.0], [4.0, 5.0, 3.0, 6.0, 9.0, 2.0]
    test = paired_test(errors_a, errors_b)
    assert test["method"] in ("wilcoxon_signed_rank", "sign_test_exact") and 0 < test["p_value"] < 0.1
    assert paired_test([0, 1, 1], [1, 0, 0])["method"] == "exact_binomial"
    monkeypatch.setitem(sys.modules, "scipy.stats", None)  # scipy not installed: the exact sign test
    assert paired_test(errors_a, errors_b) == sign_test([b - a for a, b in zip(errors_a, errors_b)])


def test_an_ab_test_of_six_parameter_models_compares_every_metric_of_the_task():
    task = get_task("hidden_params")
    examples = task.generate(size=40, seed=4, language="en").rows

    class Neutral:
        name, model_id, adapter = "neutral", "none", None

        def predict(self, texts):
            from pipeline.tasks.predictors import Prediction

            return [Prediction(raw=task.format_answer({f.key: 50 for f in task.answer_fields}), latency_ms=1.0)
                    for _ in texts]

    rules = evaluate(task, task.rule_baseline(), examples, commit="x").rows
    neutral = evaluate(task, Neutral(), examples, commit="x").rows
    result = ab_test(task, neutral, rules, "neutral", "rules", resamples=200)

    assert set(result["metrics"]) == {key for key in task.higher_is_better}
    mae = result["metrics"]["vector_mae"]
    assert mae["delta"] == pytest.approx(mae["b"] - mae["a"]) and mae["delta"] < 0 and mae["ci_high"] < 0
    assert result["error"]["delta"] == pytest.approx(mae["delta"])  # the mean error is the vector MAE
    assert result["test"]["name"] in ("wilcoxon", "sign") and result["test"]["p_value"] < 0.05
    json.dumps(result)
