"""The trainers' table (pipeline.train.registry) and their CLIs, derived from one config dataclass each."""

from __future__ import annotations

from dataclasses import fields

import pytest

from pipeline.train import cls_head, reg_head, sft
from pipeline.train.registry import TRAINERS, defaults, get_trainer

PARSERS = {"sft": sft.build_parser, "reg_head": reg_head.build_parser, "cls_head": cls_head.build_parser}


def test_every_trainer_has_a_config_a_train_function_and_the_files_it_reads():
    assert set(TRAINERS) == {"sft", "reg_head", "cls_head"} == set(PARSERS)
    assert TRAINERS["sft"].split_file.format(split="train") == "chat_train.jsonl"
    assert TRAINERS["reg_head"].split_file.format(split="valid") == "valid.jsonl"
    head = TRAINERS["cls_head"]
    assert (head.config_class, head.train) == (cls_head.ClsHeadRunConfig, cls_head.train)
    with pytest.raises(ValueError, match="unknown trainer"):
        get_trainer("svm")


def test_defaults_are_the_config_dataclass_defaults():
    assert defaults("reg_head")["learning_rate"] == reg_head.RegHeadRunConfig.learning_rate == 1e-3
    assert defaults("sft")["learning_rate"] == sft.SFTRunConfig.learning_rate
    assert defaults("cls_head")["focal_gamma"] == 0.0 and "train_file" not in defaults("cls_head")


@pytest.mark.parametrize("trainer", sorted(PARSERS))
def test_the_cli_has_a_flag_for_every_field_with_the_fields_default(trainer):
    config_class = TRAINERS[trainer].config_class
    args = PARSERS[trainer]().parse_args(["--train-file", "t.jsonl", "--output-dir", "out"])
    for config_field in fields(config_class):
        if config_field.name in ("train_file", "output_dir"):
            continue
        assert getattr(args, config_field.name) == config_field.default, config_field.name
    config = sft.config_from_args(args, config_class)
    assert config == config_class(train_file="t.jsonl", output_dir="out")


def test_a_flag_is_typed_and_a_bool_can_be_turned_off():
    args = reg_head.build_parser().parse_args(["--train-file", "t", "--output-dir", "o", "--learning-rate", "0.01",
                                               "--no-resume", "--bf16", "--task", "hidden_params"])
    assert (args.learning_rate, args.resume, args.bf16, args.task) == (0.01, False, True, "hidden_params")
    with pytest.raises(SystemExit):
        sft.build_parser().parse_args(["--train-file", "t", "--output-dir", "o", "--train-mode", "guess"])


def test_a_run_config_comes_from_a_runs_params():
    config = get_trainer("cls_head").config({"backend": "local", "focal_gamma": 2.0, "target_modules": "q_proj,v_proj",
                                             "task": "four_class"}, train_file="a", output_dir="b")
    assert (config.focal_gamma, config.target_modules, config.task) == (2.0, ["q_proj", "v_proj"], "four_class")
    with pytest.raises(ValueError, match="batch_size"):
        get_trainer("sft").config({"batch_size": 0}, train_file="a", output_dir="b")
