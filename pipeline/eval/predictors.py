"""One predictor factory for every task type: the modes of DESIGN §6 built from plain options.

- ``rule_baseline``: the task's rules (``task.rule_baseline()``);
- ``prompt_baseline``: the base model prompted with the task's chat (the
  task's ``few_shot_k`` solved train rows shown first), constrained decoding
  where the task's answer has a fixed skeleton, free greedy generation otherwise;
- ``fine_tuned``: the base model with an adapter merged, prompted as in
  training, or a trained head (regression or classification) in one forward pass;
- ``remote``: a Mistral chat model over the API (MISTRAL_API_KEY).

Model predictors load weights: build one per evaluation (or keep it in a
``ModelCache``) and reuse it. Heavy libraries are imported inside: the rules
and ``--help`` need no torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pipeline.tasks.predictors import Predictor
from pipeline.tasks.registry import PREDICTORS, Task

MODES = (*PREDICTORS, "remote")
DECODE_MODES = ("free", "constrained", "expected")


def build_predictor(
    task: Task,
    mode: str,
    *,
    model_name: str | None = None,
    adapter: str | None = None,
    decode: str | None = None,
    few_shot_rows: Sequence[Mapping[str, Any]] = (),
    few_shot_k: int | None = None,
    train_mode: str | None = None,
    train_rows: Sequence[Mapping[str, Any]] = (),
    seed: int = 0,
) -> Predictor:
    """The predictor of `mode` for `task`.

    `few_shot_rows` (the train split) give the prompt baseline its solved
    examples; `train_rows` size a free generation's token budget (the longest
    answer taught, in `train_mode`).
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    if decode is not None and decode not in DECODE_MODES:
        raise ValueError(f"unknown decode {decode!r}; expected one of {', '.join(DECODE_MODES)}")
    k = task.few_shot_k if few_shot_k is None else few_shot_k
    if mode == "rule_baseline":
        given = [name for name, value in (("model_name", model_name), ("adapter", adapter), ("decode", decode))
                 if value]
        if given:
            raise ValueError(f"rule_baseline takes no model options, got {', '.join(given)}")
        return task.rule_baseline()
    if mode == "remote":
        return _remote(task, model_name, adapter, decode, few_shot_rows, k, seed)
    if mode == "fine_tuned" and not adapter:
        raise ValueError("fine_tuned needs an adapter")
    if mode == "prompt_baseline" and adapter:
        raise ValueError("prompt_baseline is the base model as it is: it takes no adapter")
    from pipeline.infer import hf
    from pipeline.infer.cls_head import HeadPredictor, is_head_adapter
    from pipeline.train.base_models import DEFAULT_BASE_MODEL

    model_name = model_name or DEFAULT_BASE_MODEL
    if mode == "fine_tuned" and is_head_adapter(adapter):
        return HeadPredictor(model_name, adapter, task=task)  # one forward pass: there is no decoding to choose
    loaded = hf.load_model(model_name, adapter)
    options: dict[str, Any] = {"decode": decode, "train_mode": train_mode}
    if not task.constrained_decoding:
        from pipeline.tasks.registry import render_chats

        chats, _ = render_chats(task, train_rows, train_mode)
        options["max_new_tokens"] = hf.answer_token_budget(loaded, [chat["messages"][-1]["content"] for chat in chats])
    if mode == "fine_tuned":
        return hf.fine_tuned(loaded, task, **options)
    return hf.prompt_baseline(loaded, task, hf.few_shot_examples(few_shot_rows, k, seed), **options)


def _remote(task: Task, model_name: str | None, adapter: str | None, decode: str | None,
            few_shot_rows: Sequence[Mapping[str, Any]], k: int, seed: int) -> Predictor:
    from pipeline.infer.hf import few_shot_examples
    from pipeline.infer.remote import MistralPredictor
    from pipeline.mistral import client_from_env

    if not model_name:
        raise ValueError("remote needs a Mistral model id as model_name, e.g. mistral-small-latest")
    given = [name for name, value in {"adapter": adapter, "decode": decode}.items() if value is not None]
    if given:
        raise ValueError(f"remote takes no {' or '.join(given)}: the model runs on Mistral's servers")
    return MistralPredictor(model_name, client_from_env(), task=task,
                            few_shot=few_shot_examples(few_shot_rows, k, seed))
