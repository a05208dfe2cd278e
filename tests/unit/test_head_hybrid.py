"""The hybrid of a regression head and the task's rules (``rule_weight``): the head where the rules abstain, the
blend where they speak; off by default."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.data.jsonl import write_jsonl
from pipeline.infer.cls_head import blend_with_rules
from pipeline.tasks.hidden_params import AXES, TASK, constraints_for, parse
from pipeline.tasks.hidden_params.rules import predict_values
from pipeline.train.reg_head import output_fields
from tests.helpers import one_torch_thread  # noqa: F401 (autouse fixture)
from tests.tiny_model import make_tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")
FIELDS = output_fields(TASK)


def test_the_head_decides_where_the_rules_abstain_and_the_blend_where_they_speak():
    head = (10, 20, 30, 40, 60, 70)
    rules = (90, 50, 50, 0, None, 50)  # 50: no lexicon term for the axis; None: nothing readable
    assert blend_with_rules(head, rules, FIELDS, 0.0) == head
    assert blend_with_rules(head, rules, FIELDS, 1.0) == (90, 20, 30, 0, 60, 70)
    assert blend_with_rules(head, rules, FIELDS, 0.5) == (50, 20, 30, 20, 60, 70)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> tuple[Path, Path]:
    from pipeline.train.reg_head import RegHeadRunConfig, train

    root = tmp_path_factory.mktemp("hybrid")
    target = dict.fromkeys(AXES, 50)
    texts = ["fast loud drums", "something for the level", "a tune", "more of it"]
    model = make_tiny_llama(root / "tiny", texts)
    data = write_jsonl(root / "train.jsonl", [{"request_text": t, "language": "en", "target": target,
                                               "constraints": constraints_for(target)} for t in texts])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTLOOP_MODELS_DIR", str(tmp_path_factory.getbasetemp().resolve()))
        result = train(RegHeadRunConfig(model_name=str(model), train_file=str(data), output_dir=str(root / "run"),
                                        max_steps=1, batch_size=2, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                                        warmup_ratio=0.0))
    return model, Path(result.adapter_dir)


def test_the_predictor_blends_only_when_asked_here_or_in_the_card(adapter):
    from pipeline.infer.cls_head import HeadPredictor

    model, adapter_dir = adapter
    text = "fast loud drums"
    rules = predict_values(text)
    assert any(value != 50 for value in rules) and any(value == 50 for value in rules)
    head = HeadPredictor(str(model), str(adapter_dir))
    assert head.rule_weight is None
    alone = parse(head.predict([text])[0].raw)
    hybrid = HeadPredictor(str(model), str(adapter_dir), rule_weight=1.0)
    both = parse(hybrid.predict([text])[0].raw)
    assert both == tuple(r if r != 50 else h for r, h in zip(rules, alone))
    card = adapter_dir / "cls_head.json"
    card.write_text(json.dumps({**json.loads(card.read_text()), "rule_weight": 1.0}))
    assert parse(HeadPredictor(str(model), str(adapter_dir)).predict([text])[0].raw) == both
    with pytest.raises(ValueError, match="rule_weight"):
        HeadPredictor(str(model), str(adapter_dir), rule_weight=1.5)
