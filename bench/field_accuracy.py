"""Rules vs a regression head vs their hybrid, per language: directional accuracy on the hand-written dev set
(field_dev.jsonl) and vector_mae on a synthetic frozen set.

Directional accuracy pools every high/low label of the dev set: a "high" holds at a predicted value >= 55, a
"low" at <= 45 (the task's constraint rule). The hybrid is ``pipeline.infer.cls_head.blend_with_rules`` at each
``--rule-weight``: the head where the rules abstain, the blend where they speak. The head is run once per text
and every blend is computed from its values, so the columns compare the same predictions. The control column is
the hybrid with a head that answers at random: the rules' abstentions (value 50) miss every label, so any
committed value wins some back, and a hybrid's gain on this metric means something only above the control.

    python bench/field_accuracy.py                                   # rules only
    python bench/field_accuracy.py --adapter /tmp/ftl-main12/runs/7/adapter
    python bench/field_accuracy.py --adapter A --synthetic frozen.jsonl  # default: 200 mixed pairs, seed 99
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from pipeline.data.jsonl import read_jsonl  # noqa: E402
from pipeline.infer.cls_head import blend_with_rules  # noqa: E402
from pipeline.tasks.hidden_params import AXES, TASK  # noqa: E402
from pipeline.tasks.hidden_params.generate import generate_pairs  # noqa: E402
from pipeline.train.base_models import DEFAULT_BASE_MODEL  # noqa: E402
from pipeline.train.reg_head import output_fields  # noqa: E402

DEV_SET = Path(__file__).resolve().parents[1] / "pipeline/tasks/hidden_params/data/field_dev.jsonl"
LANGUAGES = ("en", "ja")
Values = tuple[int, ...]


def directional(rows: Sequence[Mapping[str, Any]], values: Sequence[Values]) -> tuple[int, int]:
    """(labels met, labels) pooled over rows."""
    met = total = 0
    for row, vector in zip(rows, values):
        for constraint in row["constraints"]:
            value = vector[AXES.index(constraint["axis"])]
            met += value >= 55 if constraint["direction"] == "high" else value <= 45
            total += 1
    return met, total


def mae(rows: Sequence[Mapping[str, Any]], values: Sequence[Values]) -> float:
    return sum(abs(v - row["target"][axis]) for row, vector in zip(rows, values)
               for axis, v in zip(AXES, vector)) / (len(rows) * len(AXES))


def rule_values(texts: Sequence[str]) -> list[Values]:
    rules = TASK.rule_baseline()
    return [tuple(TASK.parse(p.raw)[axis] for axis in AXES) for p in rules.predict(list(texts))]


def head_values(predictor: Any, texts: Sequence[str]) -> tuple[list[Values], int]:
    """The head alone (the predictor's own rule_weight ignored), and how many texts it cut."""
    saved, predictor.rule_weight, predictor._rules = (predictor.rule_weight, predictor._rules), None, None
    try:
        predictions = predictor.predict(list(texts))
    finally:
        predictor.rule_weight, predictor._rules = saved
    values = [tuple(TASK.parse(p.raw)[axis] for axis in AXES) for p in predictions]
    return values, sum(bool(p.usage.get("truncated")) for p in predictions)


def random_control(rows: Sequence[Mapping[str, Any]], rules: Sequence[Values], fields: Any, seeds: int = 20) -> float:
    """Directional accuracy of the w=1 hybrid with a head that answers uniform random values (mean over seeds).

    Where the rules abstain (50) every label is a miss, so any head that commits earns some of them back: a
    hybrid's gain counts only above this control."""
    scores = []
    for seed in range(seeds):
        rng = random.Random(seed)
        values = [blend_with_rules(tuple(rng.randint(0, 100) for _ in AXES), rule, fields, 1.0) for rule in rules]
        met, total = directional(rows, values)
        scores.append(met / total)
    return sum(scores) / len(scores)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--adapter", help="a regression head adapter (cls_head.json); none: rules only")
    parser.add_argument("--model", default=DEFAULT_BASE_MODEL)
    parser.add_argument("--dev", type=Path, default=DEV_SET)
    parser.add_argument("--synthetic", type=Path, help="a frozen set JSONL (default: generate_pairs(200, 99, mixed))")
    parser.add_argument("--rule-weight", type=float, action="append", help="hybrid weights (repeatable)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    args = parser.parse_args(argv)
    weights = args.rule_weight or [0.0, 0.25, 0.5, 0.75, 1.0]
    dev = list(read_jsonl(args.dev))
    synthetic = list(read_jsonl(args.synthetic)) if args.synthetic else generate_pairs(200, 99, language="mixed")
    sets = {"dev": dev, "synthetic": synthetic}
    fields = output_fields(TASK)
    rules = {name: rule_values([row["request_text"] for row in rows]) for name, rows in sets.items()}
    heads: dict[str, list[Values]] = {}
    if args.adapter:
        import torch

        from pipeline.infer.cls_head import HeadPredictor

        if args.threads:
            torch.set_num_threads(args.threads)
        predictor = HeadPredictor(args.model, args.adapter)
        for name, rows in sets.items():
            started = time.perf_counter()
            heads[name], cut = head_values(predictor, [row["request_text"] for row in rows])
            print(f"head on {name}: {len(rows)} texts in {time.perf_counter() - started:.0f} s, truncated {cut} "
                  f"(max_seq_length {predictor.max_seq_length})")
    print(f"dev set {args.dev.name}: directional accuracy (labels met / labels); adapter {args.adapter or '-'}")
    columns = ["rules"] + (["head"] + [f"hybrid w={w:g}" for w in weights] if heads else [])
    print(f"{'':<14}" + "".join(f"{c:>16}" for c in columns))
    for language in (*LANGUAGES, "all"):
        index = [i for i, row in enumerate(dev) if language in ("all", row.get("language"))]
        rows = [dev[i] for i in index]
        candidates = [[rules["dev"][i] for i in index]]
        if heads:
            candidates.append([heads["dev"][i] for i in index])
            candidates += [[blend_with_rules(heads["dev"][i], rules["dev"][i], fields, w) for i in index]
                           for w in weights]
        scores = [directional(rows, values) for values in candidates]
        base = scores[0][0] / scores[0][1]
        control = random_control(rows, candidates[0], fields)
        print(f"{language + ' (' + str(scores[0][1]) + ')':<14}"
              + "".join(f"{met / total:>9.3f} ({met / total / base:.2f}x)" for met, total in scores)
              + f"   control: rules + random head, w=1: {control:.3f}")
    print(f"synthetic set ({len(synthetic)} rows): vector_mae (lower is better)")
    print(f"{'':<14}" + "".join(f"{c:>16}" for c in columns))
    for language in (*LANGUAGES, "all"):
        index = [i for i, row in enumerate(synthetic) if language in ("all", row.get("language"))]
        rows = [synthetic[i] for i in index]
        candidates = [[rules["synthetic"][i] for i in index]]
        if heads:
            candidates.append([heads["synthetic"][i] for i in index])
            candidates += [[blend_with_rules(heads["synthetic"][i], rules["synthetic"][i], fields, w) for i in index]
                           for w in weights]
        values = [mae(rows, c) for c in candidates]
        print(f"{language + ' (' + str(len(rows)) + ')':<14}"
              + "".join(f"{v:>9.2f} ({v / values[0]:.2f}x)" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
