"""Local Hugging Face models as predictors: ``prompt_baseline`` (base model, few-shot) and ``fine_tuned``.

Both render prompts with the model's own chat template, exactly as training
did (``hidden_params.chat_messages`` for the fine-tuned model), because a
fine-tuned model only knows the prompt it was trained on. The prompt baseline
shows the base model the same instruction plus k solved train examples as
earlier chat turns, which is the fair "no training" competitor.

Decode modes:
- ``free``: plain greedy ``generate`` of the whole prompt, bounded by
  ``max_new_tokens``; what any chat model does, and the latency baseline the
  benchmark compares against (so it never uses the prefix cache).
- ``constrained``: the JSON skeleton forced, greedy digits (``constrained.py``),
  with the prompt prefix's KV cache reused across requests.
- ``expected``: as constrained, each value the expectation of the model's
  distribution over 0-100.

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

from pipeline.tasks.predictors import Prediction
from pipeline.infer.constrained import ConstrainedDecoder, encode_after
from pipeline.tasks.hidden_params import AXES, VALUE_MAX, chat_messages, format_target

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

DECODE_MODES = ("free", "constrained", "expected")
Target = Sequence[int] | Mapping[str, int]

# Stands in for the request text to find where the shared prompt prefix ends.
_REQUEST_PLACEHOLDER = "\u2063request\u2063"
# Room after the longest valid answer for an end-of-turn token and a little drift in free generation.
_FREE_GENERATION_SLACK = 8


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
    if not tokenizer.chat_template:
        raise ValueError(f"{model_name} has no chat template; prompts cannot be rendered as in training")
    model = architecture.from_pretrained(path, dtype=dtype)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.to(target).eval()
    return LoadedModel(model_name, adapter, model, tokenizer, target)


def few_shot_examples(rows: Sequence[Mapping[str, Any]], k: int, seed: int = 0) -> list[tuple[str, dict[str, int]]]:
    """k (request_text, target) pairs drawn reproducibly from train rows, for the prompt baseline.

    Seeded, so that every evaluation of a prompt baseline shows it the same examples.
    """
    if k < 0:
        raise ValueError(f"k must be at least 0, got {k}")
    chosen = random.Random(seed).sample(list(rows), min(k, len(rows)))
    return [(row["request_text"], dict(row["target"])) for row in chosen]


class HFPredictor:
    """A local causal LM behind the Predictor protocol, in one of the decode modes.

    The shared prompt prefix is run once here, so build one predictor per
    model and keep it (see ``model_cache``); ``predict`` may then be called
    from several threads, as each request works on its own cache copy.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        name: str,
        few_shot: Sequence[tuple[str, Target]] = (),
        decode: str = "constrained",
        prefix_cache: bool = True,
        max_new_tokens: int | None = None,
        min_branch_probability: float = 1e-3,
    ) -> None:
        self.name = name
        self.model_id = loaded.model_name
        self.adapter = loaded.adapter
        self.decode = _check_decode(decode)
        self.loaded = loaded
        self.few_shot = tuple((text, format_target(target)) for text, target in few_shot)
        answer_context = self.render(_REQUEST_PLACEHOLDER)
        self.decoder = ConstrainedDecoder(loaded.model, loaded.tokenizer, answer_context, min_branch_probability)
        if prefix_cache:
            self.decoder.cache_prefix(self.prefix_ids())
        longest_answer = encode_after(loaded.tokenizer, answer_context, format_target((VALUE_MAX,) * len(AXES)))
        self.max_new_tokens = max_new_tokens or len(longest_answer) + _FREE_GENERATION_SLACK

    def messages(self, text: str) -> list[dict[str, str]]:
        """The chat for one request: the training format, with few-shot turns between system and user."""
        messages = chat_messages(text)
        shots = [
            {"role": role, "content": content}
            for example, answer in self.few_shot
            for role, content in (("user", example), ("assistant", answer))
        ]
        return messages[:1] + shots + messages[1:]

    def render(self, text: str) -> str:
        """The prompt string the model sees, ending with the template's generation prompt."""
        return self.loaded.tokenizer.apply_chat_template(
            self.messages(text), tokenize=False, add_generation_prompt=True)

    def prompt_ids(self, text: str) -> list[int]:
        # The template writes any special tokens itself; the tokenizer must not add another BOS.
        return list(self.loaded.tokenizer(self.render(text), add_special_tokens=False)["input_ids"])

    def prefix_ids(self) -> list[int]:
        """Tokens of everything before the request text: identical for every request, so cached once."""
        rendered = self.render(_REQUEST_PLACEHOLDER)
        prefix = rendered[: rendered.index(_REQUEST_PLACEHOLDER)]
        return list(self.loaded.tokenizer(prefix, add_special_tokens=False)["input_ids"])

    def predict(self, texts: Sequence[str], decode: str | None = None) -> list[Prediction]:
        """One Prediction per text, each run and timed alone; ``decode`` overrides the predictor's mode."""
        mode = _check_decode(decode or self.decode)
        return [self._predict_one(text, mode) for text in texts]

    def _predict_one(self, text: str, mode: str) -> Prediction:
        started = time.perf_counter()
        prompt_ids = self.prompt_ids(text)
        if mode == "free":
            raw, completion_ids = generate_greedy(self.loaded, prompt_ids, self.max_new_tokens)
            passes, cached = len(completion_ids), 0
        else:
            result = self.decoder.decode(prompt_ids, expected=mode == "expected")
            raw, completion_ids, passes, cached = (
                result.text, result.token_ids, result.forward_passes, result.cached_prompt_tokens)
        latency_ms = (time.perf_counter() - started) * 1000
        usage = {"prompt_tokens": len(prompt_ids), "completion_tokens": len(completion_ids),
                 "cached_prompt_tokens": cached}
        return Prediction(raw=raw, latency_ms=latency_ms, tokens_decoded=passes, usage=usage)


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


def prompt_baseline(loaded: LoadedModel, examples: Sequence[tuple[str, Target]], **options: Any) -> HFPredictor:
    """The base model prompted with the instruction and ``examples`` (k train pairs) as prior chat turns."""
    return HFPredictor(loaded, "prompt_baseline", few_shot=examples, **options)


def fine_tuned(loaded: LoadedModel, **options: Any) -> HFPredictor:
    """Base model + adapter, prompted zero-shot exactly as in training."""
    return HFPredictor(loaded, "fine_tuned", **options)


def _check_decode(mode: str) -> str:
    if mode not in DECODE_MODES:
        raise ValueError(f"decode must be one of {', '.join(DECODE_MODES)}, got {mode!r}")
    return mode
