"""GGUF export of a generative model: a tiny Llama with a freshly trained LoRA adapter, merged, written as Q8_0,
read as a GGUF, loaded back with transformers and checked against the PyTorch model on hidden_params rows."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from pipeline.export.gguf_export import (
    ExportedGGUF,
    InvalidGGUF,
    check_gguf_parity,
    export_gguf,
    gguf_predictor,
    load_gguf,
    main,
    read_gguf,
)
from pipeline.infer import hf
from pipeline.tasks.hidden_params import chat_messages
from pipeline.tasks.registry import get_task
from pipeline.train.sft import SFTRunConfig, train
from tests.helpers import one_torch_thread, write_chat_jsonl  # noqa: F401 (autouse fixture)
from tests.tiny_model import make_tiny_llama

TASK = get_task("hidden_params")
REQUESTS = [
    "calm rainy jazz for a quiet library", "loud festival drums at sunset", "warm acoustic guitar by the fire",
    "bright synth arpeggios in a neon city", "old vinyl ballad from my childhood", "complex progressive odyssey",
]


@pytest.fixture(scope="module")
def models_root(tmp_path_factory):
    """The models directory the loaders accept, set for the module's own fixtures (conftest sets it per test)."""
    root = tmp_path_factory.getbasetemp().resolve()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FTLOOP_MODELS_DIR", str(root))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield root


@pytest.fixture(scope="module")
def rows() -> list[dict]:
    return TASK.generate(size=10, seed=3, language="en").rows


@pytest.fixture(scope="module")
def base_model(tmp_path_factory, rows, models_root) -> Path:
    texts = [message["content"] for row in rows for message in chat_messages(row["request_text"], row["target"])]
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), texts + REQUESTS)


@pytest.fixture(scope="module")
def adapter(tmp_path_factory, base_model, models_root) -> str:
    root = tmp_path_factory.mktemp("sft")
    config = SFTRunConfig(model_name=str(base_model), train_file=str(write_chat_jsonl(root / "train.jsonl", 8, 1, REQUESTS)),
                          valid_file=None, output_dir=str(root / "run"), max_steps=24, batch_size=4, learning_rate=5e-3,
                          warmup_ratio=0.0, lora_r=8, lora_alpha=16, lora_dropout=0.0, logging_steps=2,
                          max_seq_length=256)
    result = train(config, handle_signals=False)
    assert result.status == "completed"
    return result.adapter_dir


@pytest.fixture(scope="module")
def exported(tmp_path_factory, base_model, adapter, models_root) -> ExportedGGUF:
    return export_gguf(str(base_model), adapter, tmp_path_factory.mktemp("export"), quant="q8_0")


@pytest.fixture(scope="module")
def merged(base_model, adapter, models_root) -> hf.LoadedModel:
    return hf.load_model(str(base_model), adapter, device="cpu")


def prompt_ids(loaded: hf.LoadedModel, text: str) -> list[int]:
    return hf.fine_tuned(loaded, TASK).prompt_ids(text)


def test_it_writes_a_llama_q8_0_gguf_with_the_tokenizer_and_the_merged_safetensors(exported, merged):
    reader = read_gguf(exported.path)
    fields = {name: field.contents() for name, field in reader.fields.items()
              if name not in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type")}
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}

    assert fields["general.architecture"] == "llama"
    assert fields["llama.block_count"] == 2 and fields["llama.attention.head_count_kv"] == 2
    assert fields["general.file_type"] == 7  # MOSTLY_Q8_0
    assert fields["tokenizer.ggml.model"] == "gpt2"
    assert len(reader.fields["tokenizer.ggml.tokens"].data) == merged.model.config.vocab_size
    assert len(reader.fields["tokenizer.ggml.token_type"].data) == merged.model.config.vocab_size
    assert len(reader.fields["tokenizer.ggml.merges"].data) > 0
    assert fields["tokenizer.ggml.eos_token_id"] == merged.tokenizer.eos_token_id
    assert fields["tokenizer.ggml.padding_token_id"] == merged.tokenizer.pad_token_id
    assert fields["tokenizer.chat_template"] == merged.tokenizer.chat_template
    assert len(reader.tensors) == exported.tensor_count == len(merged.model.state_dict())
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["token_embd.weight"] == "Q8_0"
    assert types["blk.0.attn_norm.weight"] == "F32"

    assert exported.quant == "q8_0" and exported.gguf_version == 3
    assert exported.size == exported.path.stat().st_size
    assert exported.sha256 == hashlib.sha256(exported.path.read_bytes()).hexdigest()
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in exported.merged_dir.iterdir()}


def test_the_export_carries_the_adapter_and_loads_back_with_the_same_tokens_and_close_logits(
        exported, merged, base_model, models_root):
    model, tokenizer = load_gguf(exported.path)
    loaded = hf.loaded_model(str(exported.path), model, tokenizer, device="cpu")
    base = hf.load_model(str(base_model), None, device="cpu")
    texts = ["calm rainy jazz 1990s, 120 bpm", "静か 温かい 曲", "x"]
    ids = torch.tensor([prompt_ids(merged, texts[0])])

    with torch.inference_mode():
        expected, actual, unmerged = merged.model(ids).logits, model(ids).logits, base.model(ids).logits

    assert [prompt_ids(loaded, text) for text in texts] == [prompt_ids(merged, text) for text in texts]
    assert tokenizer.eos_token_id == merged.tokenizer.eos_token_id
    scale = expected.abs().max().item()
    error = (actual - expected).abs().max().item()
    assert error < 0.1 * scale  # Q8_0: 8 bits per weight; a random 64-wide model amplifies it more than a trained one
    assert (actual.argmax(-1) == expected.argmax(-1)).float().mean() >= 0.8
    assert (unmerged - expected).abs().max().item() > 5 * error  # what we exported is the adapter, not the base


def test_an_f32_export_is_the_merged_model_exactly(tmp_path, base_model, adapter, merged, models_root):
    """Names, shapes and the Q/K row order are right: without quantization nothing changes."""
    model, _ = load_gguf(export_gguf(str(base_model), adapter, tmp_path, quant="f32").path)
    ids = torch.tensor([prompt_ids(merged, "loud festival drums")])

    with torch.inference_mode():
        torch.testing.assert_close(model(ids).logits, merged.model(ids).logits, atol=1e-4, rtol=1e-4)


def test_parity_passes_on_hidden_params_with_constrained_decoding(exported, merged, rows):
    """Each value the expectation over its range, the JSON skeleton forced: the greedy digits of a random 64-wide
    model flip under Q8_0 noise (vector_mae moved by 0.1 to 1.5 on these 10 rows, by seed and training steps),
    expectations move smoothly (at most 0.5). SmolLM2's greedy digits moved it by 0.075 on 20 rows."""
    reference = hf.fine_tuned(merged, TASK, decode="expected")

    parity = check_gguf_parity(TASK, reference, exported.path, rows)

    assert parity.passed, parity.reason
    assert parity.metric == "vector_mae" and parity.tolerance == 1.0
    assert parity.candidate["json_valid_rate"] == parity.reference["json_valid_rate"] == 1.0
    assert parity.delta is not None and abs(parity.delta) <= 1.0
    assert parity.reference["n_examples"] == parity.candidate["n_examples"] == len(rows)


def test_parity_fails_when_the_headline_metric_moves_too_far_or_the_export_does_not_load(
        exported, merged, rows, tmp_path):
    reference = hf.fine_tuned(merged, TASK)
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(exported.path.read_bytes()[: exported.size // 2])

    strict = check_gguf_parity(TASK, reference, gguf_predictor(TASK, exported.path), rows[:3], max_mae_delta=-1.0)
    unloadable = check_gguf_parity(TASK, reference, broken, rows[:3])

    assert not strict.passed and "beyond the tolerance" in strict.reason
    assert not unloadable.passed and unloadable.candidate == {}
    assert unloadable.reason.startswith("does not load:") and "not a complete GGUF file" in unloadable.reason


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_truncated_or_corrupt_gguf_gives_a_clear_error(exported, tmp_path, damage):
    data = exported.path.read_bytes()
    path = tmp_path / "model.gguf"
    path.write_bytes({"truncated": data[: len(data) * 2 // 3], "garbage": b"not a gguf" * 100, "empty": b""}[damage])

    with pytest.raises(InvalidGGUF, match=r"model\.gguf is not a complete GGUF file .*export it again"):
        load_gguf(path)


def test_q5_k_m_is_refused_with_the_reason(base_model, tmp_path):
    with pytest.raises(ValueError, match="llama-quantize"):
        export_gguf(str(base_model), None, tmp_path, quant="q5_k_m")
    assert not list(tmp_path.glob("*.gguf")) and not (tmp_path / "merged").exists()


def test_the_cli_exports_checks_and_records_it(base_model, adapter, rows, tmp_path, models_root, capsys):
    eval_set = tmp_path / "frozen.jsonl"
    eval_set.write_text("".join(json.dumps(row) + "\n" for row in rows[:4]))

    code = main(["--model-name", str(base_model), "--adapter", adapter, "--out", str(tmp_path / "out"),
                 "--eval-set", str(eval_set), "--task", "hidden_params", "--decode", "expected"])

    report = json.loads((tmp_path / "out" / "export.json").read_text())
    assert code == 0
    assert report["gguf"]["path"] == str(tmp_path / "out" / "model-q8_0.gguf") and report["gguf"]["quant"] == "q8_0"
    assert report["parity"]["passed"] and report["parity"]["rows"] == 4
    assert "parity on 4 rows: passed" in capsys.readouterr().out
