"""Never truncate silently (issue #14, Build 6): the head predictor says which requests it cut, the runner counts
them (``truncated_rate``, each row's ``truncated``), the trainer logs them, and the default length covers the
template requests' 99th percentile in English and Japanese under SmolLM2's tokenizer."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from pipeline.data.jsonl import write_jsonl
from pipeline.eval import metrics as m
from pipeline.eval.runner import evaluate
from pipeline.tasks.hidden_params import TASK, constraints_for
from pipeline.tasks.predictors import Prediction
from tests.helpers import one_torch_thread  # noqa: F401 (autouse fixture)
from tests.tiny_model import make_tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TARGET = {"energy": 90, "warmth": 20, "brightness": 80, "acousticness": 10, "complexity": 50, "nostalgia": 30}
SHORT = "loud fast"
LONG = "loud fast music for the level, " * 12  # far beyond the 16 tokens the head below reads


def rows(texts):
    return [{"request_text": text, "language": "en", "target": TARGET, "constraints": constraints_for(TARGET)}
            for text in texts]


@pytest.fixture(scope="module")
def head(tmp_path_factory) -> tuple[Path, Path]:
    """(tiny base model, adapter of a regression head trained with max_seq_length 16): two steps, no learning asked."""
    from pipeline.train.reg_head import RegHeadRunConfig, train

    root = tmp_path_factory.mktemp("trunc")
    texts = [SHORT, LONG, "soft slow", "soft slow and quiet"]
    model = make_tiny_llama(root / "tiny", texts)
    data = write_jsonl(root / "train.jsonl", rows(texts))
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:  # the models directory (conftest's, per test) for this module
        patch.setenv("FTLOOP_MODELS_DIR", str(tmp_path_factory.getbasetemp().resolve()))
        result = train(RegHeadRunConfig(model_name=str(model), train_file=str(data), output_dir=str(root / "run"),
                                        max_steps=2, batch_size=2, lora_r=4, lora_alpha=8, lora_dropout=0.0,
                                        max_seq_length=16, warmup_ratio=0.0), on_log=lines.append)
    assert result.status == "completed"
    # The trainer says how many of its texts it cut: the long one only.
    assert any("truncated: 1 of 4 train" in line for line in lines), lines
    return model, Path(result.adapter_dir)


def test_the_predictor_says_which_requests_it_cut(head):
    from pipeline.infer.cls_head import HeadPredictor

    model, adapter = head
    predictor = HeadPredictor(str(model), str(adapter))
    assert predictor.max_seq_length == 16
    short, long = predictor.predict([SHORT, LONG])
    assert short.usage["truncated"] is False and long.usage["truncated"] is True
    assert long.usage["prompt_tokens"] == 16 < predictor.token_count(LONG)
    # Exactly the limit is not a cut.
    exact = predictor.tokenizer.decode(predictor.tokenizer(LONG)["input_ids"][:16])
    assert predictor.token_count(exact) == 16 and predictor.predict([exact])[0].usage["truncated"] is False


def test_the_runner_reports_the_truncated_rate_and_each_row_keeps_its_flag(head):
    from pipeline.infer.cls_head import HeadPredictor

    model, adapter = head
    result = evaluate(TASK, HeadPredictor(str(model), str(adapter)), rows([SHORT, LONG, LONG, "soft slow"]),
                      commit="abc", warmup=False)
    assert result.metrics["truncated_rate"] == 0.5
    assert [row["truncated"] for row in result.rows] == [False, True, True, False]


def test_a_predictor_that_does_not_count_gets_no_truncated_rate():
    class Silent:
        name, model_id, adapter = "silent", "fake", None

        def predict(self, texts):
            return [Prediction(raw="{}", latency_ms=1.0) for _ in texts]

    result = evaluate(TASK, Silent(), rows([SHORT, LONG]), commit="abc", warmup=False)
    assert result.metrics["truncated_rate"] is None  # not measured, so no metric row: not a 0
    assert [row["truncated"] for row in result.rows] == [None, None]
    assert "truncated_rate" in m.RUNNER_METRICS and m.lower_is_better("truncated_rate", TASK)
    assert m.truncated_rate([Prediction("", 1.0, usage={"truncated": True}),
                             Prediction("", 1.0, usage={"truncated": False})]) == 0.5


def test_the_default_length_covers_the_99th_percentile_of_template_requests_in_both_languages():
    """SmolLM2's tokenizer (from the bundled GGUF) spends ~1.8 tokens a Japanese character; 128 cut a third of them."""
    from transformers import AutoTokenizer

    from pipeline.tasks.hidden_params.generate import generate_pairs
    from pipeline.train.base_models import DEFAULT_BASE_MODEL, bundled_gguf_path, bundled_model
    from pipeline.train.reg_head import RegHeadRunConfig, count_truncated

    gguf = bundled_gguf_path(bundled_model(DEFAULT_BASE_MODEL))
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    limit = RegHeadRunConfig.max_seq_length
    for language in ("en", "ja"):
        texts = [row["request_text"] for row in generate_pairs(500, 3, language=language)]
        assert count_truncated(tokenizer, texts, limit) <= math.floor(0.01 * len(texts)), language
