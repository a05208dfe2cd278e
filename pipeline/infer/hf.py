"""Local Hugging Face models as predictors of any task: ``prompt_baseline`` (base model, few-shot) and ``fine_tuned``.

Both render the task's own chat (``task.chat_messages``) with the model's chat
template, exactly as training did, because a fine-tuned model only knows the
prompt it was trained on. The prompt baseline shows the base model the same
instruction plus k solved train rows as earlier chat turns (their
``task.chat_messages(row, True)``), which is the fair "no training" competitor.

Decode modes:
- ``free``: plain greedy ``generate`` of the whole prompt, bounded by
  ``max_new_tokens``; what any chat model does, the only mode of a task whose
  answer has no fixed skeleton (its parser reads whatever the model wrote), and
  the latency baseline the benchmark compares against (so it never uses the
  prefix cache).
- ``constrained`` (tasks with ``constrained_decoding``): the JSON skeleton of the
  task's ``answer_fields`` forced, greedy digits (``constrained.py``), with the
  prompt prefix's KV cache reused across requests.
- ``expected``: as constrained, each value the expectation of the model's
  distribution over the field's range.

Rows rather than bare texts may go in (``predict_rows``) because a prompt may
depend on more than the text (multiple_choice's system prompt follows the
row's mode); a bare text becomes the row ``{task.text_key: text}``.

Latency is measured around each request, tokenization and detokenization
included, one request at a time: that is what the game pays (DESIGN §6 p95).

Heavy libraries are imported inside functions so that importing this module
(e.g. from a worker that only routes tasks) stays cheap.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.infer.constrained import ConstrainedDecoder, encode_after
from pipeline.tasks.predictors import Prediction
from pipeline.tasks.registry import Task

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DECODE_MODES = ("free", "constrained", "expected")
Row = Mapping[str, Any]

# Stands in for the request text to find where the shared prompt prefix ends.
_REQUEST_PLACEHOLDER = "\u2063request\u2063"
# Room after the longest answer for an end-of-turn token and a little drift in free generation.
_FREE_GENERATION_SLACK = 8
DEFAULT_MAX_NEW_TOKENS = 64  # without answers to measure: a label, a letter, or a few sentences
MAX_NEW_TOKENS_CAP = 512


@dataclass
class LoadedModel:
    """A model ready for inference: weights in eval mode on ``device``, adapter merged, and its tokenizer."""

    model_name: str
    adapter: str | None
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device


def load_model(
    model_name: str,
    adapter: str | None = None,
    cache_dir: str | Path | None = None,
    device: str | None = None,
) -> LoadedModel:
    """Load a base model (bundled name, local directory or hub id) and merge a LoRA adapter into it.

    The adapter is merged rather than kept as a wrapper: inference then runs
    the plain architecture, with no extra matmuls per layer. The model class is
    the one the config names, as in training, so a vision-language checkpoint
    keeps the module paths its adapter refers to.
    """
    import torch
    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from pipeline.train.base_models import resolve_base_model

    path = resolve_base_model(model_name, Path(cache_dir) if cache_dir else None)
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = torch.bfloat16 if target.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    config = AutoConfig.from_pretrained(path)
    architecture = getattr(transformers, (config.architectures or [""])[0], None) or AutoModelForCausalLM
    tokenizer = AutoTokenizer.from_pretrained(path)
    _require_chat_template(model_name, tokenizer)
    model = architecture.from_pretrained(path, dtype=dtype)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    return loaded_model(model_name, model, tokenizer, adapter=adapter, device=target)


def loaded_model(
    model_name: str,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    adapter: str | None = None,
    device: str | torch.device | None = None,
) -> LoadedModel:
    """A model someone else loaded (e.g. de-quantized from a GGUF export), made ready for the predictors here.

    So that an export is served and evaluated by the same decoding code as the
    model it was made from; `model_name` is what provenance will call it.
    """
    import torch

    _require_chat_template(model_name, tokenizer)
    target = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model.to(target).eval()
    return LoadedModel(model_name, adapter, model, tokenizer, target)


def _require_chat_template(model_name: str, tokenizer: PreTrainedTokenizerBase) -> None:
    if not tokenizer.chat_template:
        raise ValueError(f"{model_name} has no chat template; prompts cannot be rendered as in training")


def few_shot_examples(rows: Sequence[Row], k: int, seed: int = 0) -> list[Row]:
    """k train rows drawn reproducibly, for the prompt baseline's solved examples.

    Seeded, so that every evaluation of a prompt baseline shows it the same examples.
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    return random.Random(seed).sample(list(rows), min(k, len(rows)))


def answer_token_budget(loaded: LoadedModel, answers: Sequence[str]) -> int:
    """Tokens to decode freely: the longest gold answer (e.g. of the train split) plus slack, capped."""
    if not answers:
        return DEFAULT_MAX_NEW_TOKENS
    longest = max(len(loaded.tokenizer(answer, add_special_tokens=False)["input_ids"]) for answer in answers)
    return min(MAX_NEW_TOKENS_CAP, longest + _FREE_GENERATION_SLACK)


class HFPredictor:
    """A local causal LM behind the Predictor protocol for one task, in one of the decode modes.

    With constrained decoding the shared prompt prefix is run once here, so
    build one predictor per model and keep it (see ``model_cache``); ``predict``
    may then be called from several threads, as each request works on its own
    cache copy. ``decode`` defaults to "constrained" where the task has a fixed
    answer skeleton and "free" otherwise.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        name: str,
        task: Task,
        few_shot: Sequence[Row] = (),
        decode: str | None = None,
        prefix_cache: bool = True,
        max_new_tokens: int | None = None,
        min_branch_probability: float = 1e-3,
        train_mode: str | None = None,
    ) -> None:
        self.name = name
        self.model_id = loaded.model_name
        self.adapter = loaded.adapter
        self.task = task
        self.train_mode = train_mode
        self.decode = self._check_decode(decode or ("constrained" if task.constrained_decoding else "free"))
        self.loaded = loaded
        self.few_shot = tuple(few_shot)
        self._shots = [message for row in self.few_shot for message in _without_system(
            task.chat_messages(row, True, train_mode))]
        self.decoder: ConstrainedDecoder | None = None
        if task.constrained_decoding:
            answer_context = self.render(_REQUEST_PLACEHOLDER)
            self.decoder = ConstrainedDecoder(loaded.model, loaded.tokenizer, answer_context, min_branch_probability,
                                              fields=task.answer_fields)
            if prefix_cache:
                self.decoder.cache_prefix(self.prefix_ids())
            if max_new_tokens is None:
                longest = task.format_answer({field.key: field.high for field in task.answer_fields})
                max_new_tokens = len(encode_after(loaded.tokenizer, answer_context, longest)) + _FREE_GENERATION_SLACK
        self.max_new_tokens = max_new_tokens or DEFAULT_MAX_NEW_TOKENS

    def _row(self, text_or_row: str | Row) -> Row:
        return {self.task.text_key: text_or_row} if isinstance(text_or_row, str) else text_or_row

    def messages(self, text_or_row: str | Row) -> list[dict[str, str]]:
        """The chat for one request: the training format, with few-shot turns between system and user."""
        messages = self.task.chat_messages(self._row(text_or_row), False, self.train_mode)
        system = len(messages) - len(_without_system(messages))
        return messages[:system] + self._shots + messages[system:]

    def render(self, text_or_row: str | Row) -> str:
        """The prompt string the model sees, ending with the template's generation prompt."""
        return self.loaded.tokenizer.apply_chat_template(
            self.messages(text_or_row), tokenize=False, add_generation_prompt=True)

    def prompt_ids(self, text_or_row: str | Row) -> list[int]:
        # The template writes any special tokens itself; the tokenizer must not add another BOS.
        return list(self.loaded.tokenizer(self.render(text_or_row), add_special_tokens=False)["input_ids"])

    def prefix_ids(self) -> list[int]:
        """Tokens of everything before the request text: identical for every request, so cached once."""
        rendered = self.render(_REQUEST_PLACEHOLDER)
        prefix = rendered[: rendered.index(_REQUEST_PLACEHOLDER)]
        return list(self.loaded.tokenizer(prefix, add_special_tokens=False)["input_ids"])

    def predict(self, texts: Sequence[str], decode: str | None = None) -> list[Prediction]:
        """One Prediction per text, each run and timed alone; ``decode`` overrides the predictor's mode."""
        return self.predict_rows([self._row(text) for text in texts], decode)

    def predict_rows(self, rows: Sequence[Row], decode: str | None = None) -> list[Prediction]:
        """One Prediction per row (the prompt may read more of a row than its text), each run and timed alone."""
        mode = self._check_decode(decode or self.decode)
        return [self._predict_one(row, mode) for row in rows]

    def _predict_one(self, row: Row, mode: str) -> Prediction:
        started = time.perf_counter()
        prompt_ids = self.prompt_ids(row)
        if mode == "free":
            raw, completion_ids = generate_greedy(self.loaded, prompt_ids, self.max_new_tokens)
            passes, cached = len(completion_ids), 0
        else:
            result = self.decoder.decode(prompt_ids, expected=mode == "expected")
            raw, completion_ids, passes, cached = (
                result.text, result.token_ids, result.forward_passes, result.cached_prompt_tokens)
        latency_ms = (time.perf_counter() - started) * 1000
        usage = {"prompt_tokens": len(prompt_ids), "completion_tokens": len(completion_ids)}
        if self.decoder is not None:
            usage["cached_prompt_tokens"] = cached
        return Prediction(raw=raw, latency_ms=latency_ms, tokens_decoded=passes, usage=usage)

    def _check_decode(self, mode: str) -> str:
        _check_decode(mode)
        if mode != "free" and not self.task.constrained_decoding:
            raise ValueError(f"{self.task.name} answers have no fixed skeleton to force: decode must be free, "
                             f"got {mode!r}")
        return mode


def _without_system(messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
    """The chat turns after the leading system message(s)."""
    start = 0
    while start < len(messages) and messages[start]["role"] == "system":
        start += 1
    return list(messages[start:])


def generate_greedy(loaded: LoadedModel, prompt_ids: list[int], max_new_tokens: int) -> tuple[str, list[int]]:
    """Greedy ``generate`` of the whole answer; the text the model wrote (no special tokens) and its token ids."""
    import torch
    from transformers import GenerationConfig

    model, tokenizer = loaded.model, loaded.tokenizer
    eos_token_id = model.generation_config.eos_token_id
    if eos_token_id is None:
        eos_token_id = tokenizer.eos_token_id
    pad_token_id = tokenizer.pad_token_id
    if pad_token_id is None:
        pad_token_id = eos_token_id[0] if isinstance(eos_token_id, list) else eos_token_id
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False,
                              eos_token_id=eos_token_id, pad_token_id=pad_token_id)
    input_ids = torch.tensor([prompt_ids], dtype=torch.long, device=loaded.device)
    with torch.inference_mode():
        output = model.generate(input_ids=input_ids, attention_mask=torch.ones_like(input_ids),
                                generation_config=config)
    completion_ids = output[0, len(prompt_ids):].tolist()
    return tokenizer.decode(completion_ids, skip_special_tokens=True), completion_ids


def prompt_baseline(loaded: LoadedModel, task: Task, examples: Sequence[Row], **options: Any) -> HFPredictor:
    """The base model prompted with the task's instruction and ``examples`` (k train rows) as prior chat turns."""
    return HFPredictor(loaded, "prompt_baseline", task, few_shot=examples, **options)


def fine_tuned(loaded: LoadedModel, task: Task, **options: Any) -> HFPredictor:
    """Base model + adapter, prompted zero-shot exactly as in training."""
    return HFPredictor(loaded, "fine_tuned", task, **options)


def _check_decode(mode: str) -> str:
    if mode not in DECODE_MODES:
        raise ValueError(f"decode must be one of {', '.join(DECODE_MODES)}, got {mode!r}")
    return mode
