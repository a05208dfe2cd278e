"""The trainers, one table: what a run's ``trainer`` param names, its config (the one source of its defaults), its
train function, and which split files it reads.

The web app's forms and launcher, the workers and the CLIs read defaults from
here (``defaults("reg_head")``) rather than spelling them out, so a default
changes in one place: the trainer's config dataclass. Where a trainer runs
(local, Hugging Face Jobs, Mistral) is the run's ``backend``, not part of this
table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from pipeline.train import cls_head, reg_head, sft


@dataclass(frozen=True)
class Trainer:
    """One trainer: ``config_class`` defines a run (and its CLI), ``train`` runs it (the callbacks of
    ``sft.train``), ``split_file`` names the file of a split it reads (``{split}`` is train or valid):
    ``reads`` "chats" are the task's chats (``task.chat_messages`` in the run's train mode), "rows" the split rows
    as the data stages wrote them."""

    key: str
    label: str
    config_class: type[sft.LoRARunConfig]
    train: Callable[..., sft.TrainResult]
    reads: str
    split_file: str

    def defaults(self) -> dict[str, Any]:
        return sft.defaults(self.config_class)

    def config(self, params: Mapping[str, Any], **paths: Any) -> sft.LoRARunConfig:
        """The run config of a run's params (keys that are not this trainer's, e.g. "backend", left out) and its
        file paths; the config's ValueError when a value is bad."""
        names = {config_field.name for config_field in fields(self.config_class)}
        values = {key: value for key, value in params.items() if key in names} | paths
        if isinstance(values.get("target_modules"), str):
            values["target_modules"] = sft.parse_target_modules(values["target_modules"])
        return self.config_class(**values)


TRAINERS: dict[str, Trainer] = {
    trainer.key: trainer
    for trainer in (
        Trainer("sft", "LoRA SFT: the model writes the answer", sft.SFTRunConfig, sft.train, "chats",
                "chat_{split}.jsonl"),
        Trainer("reg_head", "LoRA + regression head: one forward pass a request", reg_head.RegHeadRunConfig,
                reg_head.train, "rows", "{split}.jsonl"),
        Trainer("cls_head", "LoRA + classification head: one forward pass a text", cls_head.ClsHeadRunConfig,
                cls_head.train, "rows", "{split}.jsonl"),
    )
}


def get_trainer(key: str) -> Trainer:
    if key not in TRAINERS:
        raise ValueError(f"unknown trainer {key!r}; expected one of {', '.join(TRAINERS)}")
    return TRAINERS[key]


def defaults(trainer: str) -> dict[str, Any]:
    """Every default of a trainer's run config (the file paths, which have none, left out)."""
    return get_trainer(trainer).defaults()
