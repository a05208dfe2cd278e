"""The SFT trainer on a tiny random Llama made here: masking, LoRA and QLoRA steps, stop and resume.

Everything is local and small (a 2-layer, 64-wide model and a BPE tokenizer
trained on the test data), so the whole module runs in about a minute on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.tasks.hidden_params import chat_messages
from pipeline.train.sft import (
    SFTRunConfig,
    StopRequest,
    build_trainer,
    default_target_modules,
    list_checkpoints,
    make_callbacks,
    parse_target_modules,
    read_chat_jsonl,
    train,
)
from tests.helpers import one_torch_thread, write_chat_jsonl  # noqa: F401 (autouse fixture)
from tests.tiny_model import make_tiny_llama

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[2]
REQUESTS = [
    "calm rainy jazz for a quiet library", "loud festival drums at sunset", "warm acoustic guitar by the fire",
    "bright synth arpeggios in a neon city", "old vinyl ballad from my childhood", "complex progressive odyssey",
    "gentle lullaby with soft piano", "dark techno in an underground club",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("data")
    return {"train": write_chat_jsonl(root / "train.jsonl", 8, seed=1, requests=REQUESTS),
            "valid": write_chat_jsonl(root / "valid.jsonl", 4, seed=2, requests=REQUESTS)}


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, data) -> Path:
    texts = [m["content"] for line in data["train"].read_text().splitlines() for m in json.loads(line)["messages"]]
    return make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), texts)


def run_config(tiny_model: Path, data: dict[str, Path], output_dir: Path, **overrides) -> SFTRunConfig:
    values = dict(model_name=str(tiny_model), train_file=str(data["train"]), valid_file=str(data["valid"]),
                  output_dir=str(output_dir), max_steps=12, batch_size=4, learning_rate=5e-3, warmup_ratio=0.0,
                  lora_r=8, lora_alpha=16, lora_dropout=0.0, logging_steps=2, eval_steps=6, max_seq_length=256)
    values.update(overrides)
    return SFTRunConfig(**values)


def test_it_masks_every_prompt_token_and_keeps_the_answer_and_its_end_token(tiny_model, data, tmp_path):
    trainer = build_trainer(run_config(tiny_model, data, tmp_path))
    tokenizer = trainer.processing_class
    messages = json.loads(data["train"].read_text().splitlines()[0])["messages"]
    example = trainer.train_dataset[0]
    prompt_ids = tokenizer.apply_chat_template(messages[:2], add_generation_prompt=True, tokenize=True,
                                               return_dict=True)["input_ids"]
    input_ids, labels = example["input_ids"], example["labels"]

    assert input_ids[:len(prompt_ids)] == prompt_ids
    assert labels[:len(prompt_ids)] == [-100] * len(prompt_ids)
    assert labels[len(prompt_ids):] == input_ids[len(prompt_ids):]
    trained = tokenizer.decode(labels[len(prompt_ids):])
    assert trained.startswith(messages[2]["content"] + "<|im_end|>")
    assert tokenizer.eos_token_id in labels


def test_it_trains_lora_on_cpu_with_falling_loss_and_writes_adapter_and_run_card(tiny_model, data, tmp_path):
    metrics: list[tuple[str, int, float]] = []
    progress: list[tuple[int, int]] = []
    lines: list[str] = []
    config = run_config(tiny_model, data, tmp_path / "run", max_steps=24)

    result = train(config, on_progress=lambda done, total: progress.append((done, total)),
                   on_metric=lambda key, step, value: metrics.append((key, step, value)), on_log=lines.append)

    train_losses = [value for key, _, value in metrics if key == "train/loss"]
    eval_losses = [value for key, _, value in metrics if key == "eval/loss"]
    assert result.status == "completed"
    assert (result.steps_done, result.total_steps) == (24, 24)
    assert progress[-1] == (24, 24)
    assert len(train_losses) == 12 and train_losses[-1] < 0.5 * train_losses[0]
    assert [step for key, step, _ in metrics if key == "eval/loss"] == [6, 12, 18, 24]
    assert eval_losses[-1] < eval_losses[0]
    assert result.train_loss == train_losses[-1] and result.eval_loss == eval_losses[-1]
    assert result.tokens_per_second > 0 and result.steps_per_second > 0
    assert result.device.kind == "cpu" and result.device.precision == "fp32" and not result.device.load_in_4bit
    assert (Path(result.adapter_dir) / "adapter_model.safetensors").is_file()
    assert (Path(result.adapter_dir) / "chat_template.jinja").is_file()
    assert any(line.startswith("step 24/24") for line in lines)

    card = json.loads(Path(result.run_card_path).read_text())
    assert card["base_model"] == str(tiny_model)
    assert len(card["datasets"]["train"]["sha256"]) == 64 and len(card["datasets"]["valid"]["sha256"]) == 64
    assert card["hyperparameters"]["learning_rate"] == 5e-3 and card["hyperparameters"]["lora_r"] == 8
    assert "code_commit" in card and card["device"]["kind"] == "cpu"
    assert card["final_train_loss"] == result.train_loss and card["final_eval_loss"] == result.eval_loss
    assert card["duration_seconds"] > 0


def test_it_trains_qlora_4bit_through_bitsandbytes_on_cpu(tiny_model, data, tmp_path):
    from bitsandbytes.nn import Linear4bit

    config = run_config(tiny_model, data, tmp_path, load_in_4bit=True, max_steps=3, valid_file=None)
    trainer = build_trainer(config)
    quantized = [name for name, module in trainer.model.named_modules() if isinstance(module, Linear4bit)]

    trainer.train()

    assert len(quantized) == 2 * 7  # every projection of both layers
    assert all(module.weight.quant_state.quant_type == "nf4"
               for module in trainer.model.modules() if isinstance(module, Linear4bit))
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert trainer.state.global_step == 3 and losses and all(0 < loss < 100 for loss in losses)


def test_a_cancelled_run_keeps_a_checkpoint_and_the_next_run_resumes_to_the_planned_total(tiny_model, data, tmp_path):
    done: list[int] = []
    config = run_config(tiny_model, data, tmp_path, max_steps=10, valid_file=None)

    cancelled = train(config, on_progress=lambda step, total: done.append(step), should_stop=lambda: done[-1] >= 4)
    resumed = train(config)

    assert cancelled.status == "cancelled" and cancelled.adapter_dir is None
    assert cancelled.steps_done == 4 and cancelled.checkpoints[-1].endswith("checkpoint-4")
    assert resumed.status == "completed" and resumed.resumed_from_step == 4
    assert (resumed.steps_done, resumed.total_steps) == (10, 10)
    assert [checkpoint.step for checkpoint in list_checkpoints(tmp_path)] == [4, 10]


def test_sigterm_saves_a_checkpoint_and_a_rerun_resumes_at_that_step(tiny_model, data, tmp_path):
    command = [sys.executable, "-m", "pipeline.train.sft", "--model-name", str(tiny_model),
               "--train-file", str(data["train"]), "--output-dir", str(tmp_path), "--max-steps", "30",
               "--batch-size", "4", "--logging-steps", "1", "--lora-r", "4", "--max-seq-length", "256"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "1"}
    first = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = []
    for line in first.stdout:
        output.append(line)
        if line.startswith("step 2/30"):
            first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 128 + signal.SIGTERM, "".join(output[-20:])
    saved = list_checkpoints(tmp_path)
    assert len(saved) == 1 and 2 <= saved[0].step < 30, "".join(output[-20:])

    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)

    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    card = json.loads((tmp_path / "run_card.json").read_text())
    assert card["resumed_from_step"] == saved[0].step
    assert (card["steps_done"], card["total_steps"], card["status"]) == (30, 30, "completed")
    assert f"resuming from {saved[0].path} (step {saved[0].step})" in second.stdout


def test_timed_checkpoints_fire_after_the_interval_and_at_the_last_step():
    from transformers import TrainerControl, TrainerState

    now = [0.0]
    timed = make_callbacks(StopRequest(), checkpoint_minutes=5, clock=lambda: now[0])[1]
    state, control = TrainerState(max_steps=100), TrainerControl()
    timed.on_train_begin(None, state, control)

    state.global_step, now[0] = 10, 299.0
    assert not timed.on_step_end(None, state, control).should_save
    state.global_step, now[0] = 11, 300.0
    assert timed.on_step_end(None, state, control).should_save
    timed.on_save(None, state, TrainerControl())
    state.global_step, now[0] = 100, 301.0
    assert timed.on_step_end(None, state, TrainerControl()).should_save


def test_a_stop_request_reports_why():
    assert StopRequest().status == "completed"
    cancel = StopRequest(should_stop=lambda: True)
    assert cancel.requested() and cancel.status == "cancelled"
    interrupted = StopRequest()
    interrupted.signal_number = signal.SIGTERM
    assert interrupted.requested() and interrupted.status == "interrupted"


def test_malformed_chat_jsonl_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = json.dumps({"messages": chat_messages("calm jazz", [1, 2, 3, 4, 5, 6])})
    path.write_text(good + "\n\n" + '{"messages": [{"role": "user", "content": "hi"}, {"role": "user"}]}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:3: every message needs"):
        read_chat_jsonl(path)
    path.write_text(good + "\n{not json\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not valid JSON"):
        read_chat_jsonl(path)
    path.write_text(json.dumps({"messages": chat_messages("calm jazz")}) + "\n")
    with pytest.raises(ValueError, match=r"bad.jsonl:1: the last message must be the assistant's answer"):
        read_chat_jsonl(path)


def test_chat_and_prompt_completion_lines_read_the_same(tmp_path):
    *prompt, answer = chat_messages("calm jazz", [1, 2, 3, 4, 5, 6])
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"messages": [*prompt, answer]}) + "\n"
                    + json.dumps({"prompt": prompt, "completion": [answer]}) + "\n")
    first, second = read_chat_jsonl(path)
    assert first == second == {"prompt": prompt, "completion": [answer]}


def test_target_modules_default_per_architecture_and_parse_from_the_cli():
    assert default_target_modules("llama") == ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                               "down_proj"]
    assert default_target_modules("mistral3") == r".*language_model.*\.(q|k|v|o|gate|up|down)_proj"
    assert default_target_modules("something-new") == "all-linear"
    assert parse_target_modules("q_proj, v_proj") == ["q_proj", "v_proj"]
    assert parse_target_modules(r".*language_model.*\.(q|v)_proj") == r".*language_model.*\.(q|v)_proj"
    assert parse_target_modules("all-linear") == "all-linear"
    assert parse_target_modules(None) is None


def test_ministral3_lora_adapts_only_the_language_model():
    """A tiny random Mistral3ForConditionalGeneration: the vision tower and projector stay untouched."""
    from peft import LoraConfig, get_peft_model
    from transformers import Mistral3Config, Mistral3ForConditionalGeneration

    config = Mistral3Config(
        text_config={"model_type": "ministral3", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 16},
        vision_config={"model_type": "pixtral", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
                       "num_attention_heads": 2, "image_size": 32, "patch_size": 8, "head_dim": 16},
    )
    model = Mistral3ForConditionalGeneration(config)
    target = default_target_modules(config.model_type)
    adapted = get_peft_model(model, LoraConfig(r=2, target_modules=target, task_type="CAUSAL_LM"))
    lora_modules = {name.rsplit(".lora_A", 1)[0] for name, _ in adapted.named_parameters() if ".lora_A." in name}

    assert len(lora_modules) == 7
    assert all(".language_model." in name for name in lora_modules)


def test_the_cli_offers_the_seed_interface():
    help_text = subprocess.run([sys.executable, "-m", "pipeline.train.sft", "--help"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout
    for flag in ("--model-name", "--train-file", "--valid-file", "--output-dir", "--num-epochs", "--learning-rate",
                 "--batch-size", "--max-seq-length", "--lora-r", "--lora-alpha", "--lora-dropout", "--target-modules",
                 "--gradient-accumulation-steps", "--warmup-ratio", "--bf16", "--fp16", "--load-in-4bit",
                 "--train-mode", "--resume"):
        assert flag in help_text
    bad = subprocess.run([sys.executable, "-m", "pipeline.train.sft", "--train-file", "x", "--output-dir", "y",
                          "--train-mode", "guess"], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_a_checkpoint_at_the_last_step_is_the_model_and_resuming_from_it_trains_no_further(tiny_model, data,
                                                                                            tmp_path):
    """A worker killed after the last step's checkpoint, before its run was marked done: the rerun must not take
    a step past max_steps (Trainer.train from a checkpoint in the middle of an epoch would: 8 rows, batches of 4,
    the last step, 3, half way through the second epoch)."""
    first = train(run_config(tiny_model, data, tmp_path, max_steps=3, eval_steps=100), handle_signals=False)
    assert first.status == "completed" and [point.step for point in list_checkpoints(tmp_path)][-1] == 3
    lines: list[str] = []
    second = train(run_config(tiny_model, data, tmp_path, max_steps=3, eval_steps=100), on_log=lines.append,
                   handle_signals=False)
    assert (second.status, second.steps_done, second.resumed_from_step) == ("completed", 3, 3)
    assert any("is at the last step: nothing left to train" in line for line in lines)
    assert (Path(second.adapter_dir) / "adapter_model.safetensors").is_file()
