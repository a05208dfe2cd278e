"""Local HF predictors (prompt baseline, fine-tuned), model loading with an adapter, and the warm-model cache."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest
import torch

from pipeline.infer.hf import (
    DECODE_MODES,
    HFPredictor,
    LoadedModel,
    few_shot_examples,
    fine_tuned,
    load_model,
    prompt_baseline,
)
from pipeline.infer.model_cache import ModelCache
from pipeline.tasks.hidden_params import SYSTEM_PROMPT, TASK, chat_messages, format_target, parse
from pipeline.tasks.registry import get_task
from tests.unit.test_constrained import one_thread, tiny_model, tiny_tokenizer  # noqa: F401  (one_thread: autouse)

EXAMPLES = [
    {"request_text": "calm acoustic piano for a rainy night",
     "target": {"energy": 10, "warmth": 80, "brightness": 30, "acousticness": 95, "complexity": 40, "nostalgia": 70}},
    {"request_text": "loud bright synth for a summer road trip", "target": (90, 40, 85, 5, 50, 20)},
]


@pytest.fixture
def loaded() -> LoadedModel:
    tokenizer = tiny_tokenizer("split")
    return LoadedModel("tiny", None, tiny_model(tokenizer, seed=1, init_range=0.3), tokenizer, torch.device("cpu"))


def test_the_fine_tuned_predictor_prompts_exactly_as_training_did(loaded):
    predictor = fine_tuned(loaded, TASK)
    text = "soft retro jazz"

    assert predictor.messages(text) == chat_messages(text)
    assert predictor.prompt_ids(text)[: len(predictor.prefix_ids())] == predictor.prefix_ids()
    assert (predictor.name, predictor.model_id, predictor.adapter) == ("fine_tuned", "tiny", None)


def test_the_prompt_baseline_shows_the_examples_as_earlier_chat_turns(loaded):
    predictor = prompt_baseline(loaded, TASK, EXAMPLES)

    messages = predictor.messages("warm old jazz")

    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert messages[1]["content"] == EXAMPLES[0]["request_text"]
    assert messages[2]["content"] == format_target(EXAMPLES[0]["target"])
    assert messages[4]["content"] == format_target(EXAMPLES[1]["target"])
    assert messages[-1]["content"] == "warm old jazz"
    # The examples belong to the shared prefix, so they are cached, not re-run per request.
    assert len(predictor.prefix_ids()) > len(fine_tuned(loaded, TASK).prefix_ids())


@pytest.mark.parametrize("mode", ["constrained", "expected"])
@pytest.mark.parametrize("factory", [lambda loaded, **o: fine_tuned(loaded, TASK, **o),
                                     lambda loaded, **o: prompt_baseline(loaded, TASK, EXAMPLES, **o)],
                         ids=["fine_tuned", "prompt_baseline"])
def test_constrained_modes_predict_valid_json_with_latency_and_work_done(loaded, factory, mode):
    predictor = factory(loaded, decode=mode)
    texts = ["upbeat summer synth", "静か 温かい 曲", "x"]

    predictions = predictor.predict(texts)

    assert len(predictions) == len(texts)
    for prediction in predictions:
        assert parse(prediction.raw) is not None
        assert prediction.latency_ms > 0
        assert prediction.tokens_decoded > 0
        assert prediction.usage["cached_prompt_tokens"] == len(predictor.prefix_ids())


def test_constrained_decoding_runs_fewer_model_steps_than_free_generation(loaded):
    predictor = fine_tuned(loaded, TASK)
    text = "loud complex retro piano"

    free = predictor.predict([text], decode="free")[0]
    constrained = predictor.predict([text], decode="constrained")[0]

    assert free.tokens_decoded == free.usage["completion_tokens"] <= predictor.max_new_tokens
    assert constrained.tokens_decoded < free.tokens_decoded
    assert constrained.tokens_decoded < constrained.usage["completion_tokens"]


def test_it_refuses_an_unknown_decode_mode(loaded):
    with pytest.raises(ValueError, match="decode must be one of"):
        HFPredictor(loaded, "fine_tuned", TASK, decode="beam")
    with pytest.raises(ValueError, match="decode must be one of"):
        fine_tuned(loaded, TASK).predict(["x"], decode="sampled")
    assert DECODE_MODES == ("free", "constrained", "expected")


def test_a_task_without_an_answer_skeleton_generates_freely_from_its_own_chat(loaded):
    task = get_task("four_class")
    row = task.demo_rows(1, 0, "en")[0]
    with pytest.raises(ValueError, match="no fixed skeleton"):
        HFPredictor(loaded, "fine_tuned", task, decode="constrained")
    predictor = fine_tuned(loaded, task, max_new_tokens=5)

    assert predictor.decode == "free" and predictor.decoder is None
    assert predictor.messages(row) == task.chat_messages(row, False)
    baseline = prompt_baseline(loaded, task, [row])
    assert baseline.messages(row) == [*task.chat_messages(row, True), task.chat_messages(row, False)[-1]]
    [prediction] = predictor.predict_rows([row])
    assert 0 < prediction.tokens_decoded == prediction.usage["completion_tokens"] <= 5


def test_few_shot_examples_are_a_reproducible_sample_of_train_rows():
    rows = [{"request_text": f"request {i}", "target": {"energy": i}} for i in range(20)]

    picked = few_shot_examples(rows, 3, seed=4)

    assert picked == few_shot_examples(rows, 3, seed=4)
    assert len(picked) == 3 and all(row["request_text"].startswith("request ") for row in picked)
    assert len(few_shot_examples(rows[:2], 5)) == 2


def test_load_model_merges_a_saved_lora_adapter(tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    tokenizer = tiny_tokenizer("split")
    base = tiny_model(tokenizer, seed=2)
    base.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    torch.manual_seed(0)
    # Random (not zero) LoRA weights, so that merging visibly changes the outputs.
    peft_model = get_peft_model(tiny_model(tokenizer, seed=2), LoraConfig(
        r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"))
    peft_model.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([tokenizer("calm jazz", add_special_tokens=False)["input_ids"]])

    loaded = load_model(str(tmp_path / "base"), adapter=str(tmp_path / "adapter"), device="cpu")

    assert not isinstance(loaded.model, PeftModel) and not loaded.model.training
    assert loaded.adapter == str(tmp_path / "adapter")
    with torch.no_grad():
        merged, adapted, plain = (m(ids).logits for m in (loaded.model, peft_model.eval(), base))
    assert torch.allclose(merged, adapted, atol=1e-5)
    assert not torch.allclose(merged, plain, atol=1e-3)


class FakeModel:
    """Stands in for a loaded model: the cache only stores, orders and drops values."""

    def __init__(self, key):
        self.key = key


def test_the_model_cache_evicts_the_least_recently_used_model():
    loads = []
    cache = ModelCache(max_models=2, loader=lambda name, adapter: loads.append((name, adapter)) or FakeModel(name))

    first = cache.get_or_load(("base", None))
    cache.get_or_load(("base", "run-1"))
    assert cache.get_or_load(("base", None)) is first  # a hit refreshes it
    cache.get_or_load(("base", "run-2"))

    assert cache.keys() == [("base", None), ("base", "run-2")]
    assert ("base", "run-1") not in cache and len(cache) == 2
    assert loads == [("base", None), ("base", "run-1"), ("base", "run-2")]


def test_an_evicted_model_is_freed():
    cache = ModelCache(max_models=1, loader=lambda name, adapter: FakeModel(name))
    evicted = weakref.ref(cache.get_or_load(("a", None)))

    cache.get_or_load(("b", None))
    gc.collect()

    assert evicted() is None


def test_concurrent_requests_for_one_model_load_it_once():
    calls = []

    def slow_loader(name, adapter):
        calls.append(name)
        time.sleep(0.2)
        return FakeModel(name)

    cache = ModelCache(loader=slow_loader)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_load(("base", None)))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert calls == ["base"]
    assert len({id(result) for result in results}) == 1


def test_a_failed_load_is_not_cached_and_can_be_retried():
    attempts = []

    def flaky_loader(name, adapter):
        attempts.append(name)
        if len(attempts) == 1:
            raise OSError("disk hiccup")
        return FakeModel(name)

    cache = ModelCache(loader=flaky_loader)
    with pytest.raises(OSError):
        cache.get_or_load(("base", None))

    assert ("base", None) not in cache
    assert cache.get_or_load(("base", None)).key == "base"
