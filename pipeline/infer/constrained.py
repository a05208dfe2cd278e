"""Constrained decoding of a task's integer-field JSON answer for any Hugging Face causal LM (DESIGN §8).

Why: the game reads the JSON directly, so every answer must parse strictly,
and the playground is latency-bound. Both follow from decoding the skeleton
instead of sampling it:

- The answer is the task's ``answer_fields`` (integers ``low``-``high``) as one
  compact JSON object in field order, e.g. the six-parameter task's
  ``{"energy":12,"warmth":80,...}``.
- The fixed parts (``{"energy":``, ``,"warmth":``, ..., ``}``) are appended as
  tokens, never sampled, and each run of them is fed to the model in one
  forward pass. Only the value slots need model decisions, so a request takes
  two or three forward passes per value instead of one per output token
  (about seven per value with SmolLM2's tokenizer).
- In a value slot only digit tokens that keep the number a valid literal up to
  the field's ``high`` without leading zeros are allowed (for 0-100: "0" ends
  the number, "10" may only grow to "100"); the slot ends when the model
  prefers the token that opens the next fixed part (once the number reaches
  ``low``), or when the number cannot grow. Every output parses with the
  task's strict parser.
- Only the logits of tokens a slot can take (digit tokens and the tokens that
  open a fixed part) are computed, instead of the whole vocabulary: the output
  layer is a fifth of a small model's work per token. A model whose logits are
  more than a linear map of its decoder's last hidden state (soft-capping,
  scaling) fails a check at construction and keeps the full output layer.
- The KV cache of the prompt prefix shared by all requests (system prompt,
  few-shot turns, chat-template head up to the user text) is computed once and
  copied per request (``copy.deepcopy``, as the transformers cache docs do for
  prompt reuse), so a request only runs its own suffix.

The fixed parts are tokenized in context (after a digit, and after the
prompt), which reproduces the token boundaries the model saw in training when
the whole answer was tokenized at once.

"expected" mode reads a value as the expectation of the model's distribution
over the field's range rather than its greedy digits, which lowers the error of a model
that hesitates between neighbouring values. See ``ConstrainedDecoder`` for how
that distribution is enumerated and what is approximated.
"""

from __future__ import annotations

import copy
import inspect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipeline.tasks.registry import AnswerField

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

# The range a field has unless it says otherwise (AnswerField's default): percent-like 0-100.
DEFAULT_HIGH = AnswerField("value", "int").high
# A digit sits before every fixed part but the first; it anchors their in-context tokenization.
_DIGIT_ANCHOR = "0"


def is_number_prefix(digits: str, high: int = DEFAULT_HIGH) -> bool:
    """Whether ``digits`` can start (or be) a valid value literal: no leading zero, at most ``high``."""
    if not digits:
        return True
    if not digits.isascii() or not digits.isdigit() or len(digits) > len(str(high)):
        return False
    if digits[0] == "0" and len(digits) > 1:
        return False
    return int(digits) <= high


def allowed_next_digits(digits: str, high: int = DEFAULT_HIGH) -> tuple[str, ...]:
    """The single digits that may follow ``digits`` in a value slot (0-100: "" -> 0-9, "10" -> 0, "0" -> none)."""
    return tuple(d for d in "0123456789" if is_number_prefix(digits + d, high))


def can_end(digits: str, low: int = 0, high: int = DEFAULT_HIGH) -> bool:
    """A slot may close once it holds a complete number of at least ``low``."""
    return bool(digits) and is_number_prefix(digits, high) and int(digits) >= low


def integer_fields(fields: Sequence[AnswerField]) -> tuple[AnswerField, ...]:
    """The fields of a constrained answer, checked: at least one, each an integer field with 0 <= low <= high."""
    fields = tuple(fields)
    if not fields:
        raise ValueError("constrained decoding needs the answer's fields")
    for answer_field in fields:
        if answer_field.kind != "int" or not 0 <= answer_field.low <= answer_field.high:
            raise ValueError(f"constrained decoding writes non-negative integer fields; {answer_field.key!r} is "
                             f"{answer_field.kind} {answer_field.low}-{answer_field.high}")
    return fields


def skeleton_texts(keys: Sequence[str]) -> tuple[str, ...]:
    """The fixed parts around the values, in output order: one more than there are keys."""
    parts = ['{"' + keys[0] + '":']
    parts += [',"' + key + '":' for key in keys[1:]]
    parts.append("}")
    return tuple(parts)


def encode_after(tokenizer: PreTrainedTokenizerBase, context: str, text: str) -> list[int]:
    """Token ids of ``text`` as it tokenizes right after ``context``.

    Tokenizing a fragment alone can split it differently than inside the whole
    answer (a SentencePiece tokenizer adds a word-start marker, a BPE merges
    across the join), and the model only knows the boundaries of whole
    answers. When the context's tokens are not a prefix of the joint
    tokenization the fragment is tokenized alone.
    """
    context_ids = _encode(tokenizer, context)
    joint_ids = _encode(tokenizer, context + text)
    if joint_ids[: len(context_ids)] == context_ids and len(joint_ids) > len(context_ids):
        return joint_ids[len(context_ids):]
    return _encode(tokenizer, text)


def _encode(tokenizer: PreTrainedTokenizerBase, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


class DigitTokens:
    """The vocabulary's pure-digit tokens, and which of them may extend a number.

    A token counts as a digit token when both its raw form and its decoded
    text are ASCII digits: this keeps "▁4" (a SentencePiece word start, i.e.
    " 4") and byte-fallback tokens out, and admits multi-digit tokens
    ("42", "100") where a vocabulary has them. A multi-digit token is allowed
    only if all of its digits keep the number valid.
    """

    def __init__(self, tokenizer: PreTrainedTokenizerBase, high: int = DEFAULT_HIGH) -> None:
        self.high = high
        self.max_digits = len(str(high))
        self.digits_by_id: dict[int, str] = {}
        for token, token_id in tokenizer.get_vocab().items():
            if token.isascii() and token.isdigit() and len(token) <= self.max_digits:
                if tokenizer.decode([token_id]) == token:
                    self.digits_by_id[token_id] = token
        self._id_by_digits = {digits: token_id for token_id, digits in sorted(self.digits_by_id.items())}
        missing = [d for d in "0123456789" if d not in self._id_by_digits]
        if missing:
            raise ValueError(f"the tokenizer has no single-digit token for {', '.join(missing)}; "
                             "constrained decoding needs one per digit")
        self._continuations: dict[str, tuple[tuple[int, str], ...]] = {}

    def continuations(self, digits: str) -> tuple[tuple[int, str], ...]:
        """(token id, digits after it) for every digit token that keeps ``digits`` a valid number prefix."""
        cached = self._continuations.get(digits)
        if cached is None:
            cached = tuple(
                (token_id, digits + token)
                for token_id, token in sorted(self.digits_by_id.items())
                if is_number_prefix(digits + token, self.high)
            )
            self._continuations[digits] = cached
        return cached

    def encode_number(self, value: int) -> list[int]:
        """Tokens for a value, longest digit tokens first (one token per digit on digit-splitting tokenizers)."""
        text, ids = str(value), []
        while text:
            length = next(n for n in range(min(self.max_digits, len(text)), 0, -1) if text[:n] in self._id_by_digits)
            ids.append(self._id_by_digits[text[:length]])
            text = text[length:]
        return ids


@dataclass(frozen=True)
class DecodeResult:
    """One decoded answer: its tokens and text, the values, and the model's work."""

    token_ids: list[int]
    text: str
    values: tuple[int, ...]
    forward_passes: int
    cached_prompt_tokens: int


@dataclass
class _Branch:
    """A partial number in the expected-value enumeration: its tokens, digits and path probability."""

    token_ids: tuple[int, ...]
    digits: str
    probability: float
    logits: torch.Tensor | None = None


class ConstrainedDecoder:
    """Greedy or expected-value decoding of the JSON skeleton of ``fields`` for one model and tokenizer.

    ``answer_context`` is any rendered prompt ending with the chat template's
    generation prompt: the opening fixed part is tokenized after it.

    Expected mode, per value slot: the distribution over the field's range is enumerated
    over token paths. The slot-start logits give the first digit token; every
    partial number that can still grow ("1"-"9", "10") is run through the
    model, all of them in one batched pass per depth, to get the probability of
    each further digit and of closing. Probabilities are renormalised over the
    allowed tokens at each step, as the constraint leaves no other choice.
    Approximation: a partial number whose path probability falls below
    ``min_branch_probability`` is not expanded and its mass counts as the value
    it has reached; with the default 1e-3 floor that moves an expectation by
    at most about one point, and in practice by far less. The slot's value is
    the rounded expectation; its digits are then fed with the next fixed part
    in one pass.
    """

    def __init__(
        self,
        model: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
        answer_context: str,
        min_branch_probability: float = 1e-3,
        *,
        fields: Sequence[AnswerField],
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.fields = integer_fields(fields)
        by_high = {high: DigitTokens(tokenizer, high) for high in dict.fromkeys(f.high for f in self.fields)}
        self.slot_digits = tuple(by_high[f.high] for f in self.fields)
        self.digits = self.slot_digits[0]
        texts = skeleton_texts([f.key for f in self.fields])
        self.segments: tuple[tuple[int, ...], ...] = (
            tuple(encode_after(tokenizer, answer_context, texts[0])),
            *(tuple(encode_after(tokenizer, _DIGIT_ANCHOR, text)) for text in texts[1:]),
        )
        self.min_branch_probability = min_branch_probability
        self._keeps_last_logits_only = "logits_to_keep" in inspect.signature(model.forward).parameters
        # The only tokens a decision ever looks at: digits, and the first token of each fixed part after a value.
        digit_ids = {token_id for digits in by_high.values() for token_id in digits.digits_by_id}
        self._slot_token_ids = sorted(digit_ids | {segment[0] for segment in self.segments[1:]})
        self._column = {token_id: column for column, token_id in enumerate(self._slot_token_ids)}
        self._head = self._restricted_head()
        self._prefix_ids: list[int] = []
        self._prefix_cache: Any = None

    @property
    def restricted_head(self) -> bool:
        """Whether forward passes compute logits for the slot tokens only (see the module docstring)."""
        return self._head is not None

    def cache_prefix(self, prefix_ids: Sequence[int]) -> None:
        """Run the shared prompt prefix once; later requests starting with it skip those tokens."""
        import torch

        self._prefix_ids = list(prefix_ids)
        self._prefix_cache = None
        if self._prefix_ids:
            from transformers import DynamicCache

            self._prefix_cache = DynamicCache(config=self.model.config)
            with torch.inference_mode():
                self._forward([self._prefix_ids], self._prefix_cache)

    def decode(self, prompt_ids: Sequence[int], expected: bool = False) -> DecodeResult:
        """The answer to one rendered, tokenized prompt (batch 1)."""
        import torch

        with torch.inference_mode():
            cache, cached = self._request_cache(prompt_ids)
            # Tokens chosen or forced but not yet run through the model; the cache holds everything before them.
            pending = list(prompt_ids[cached:]) + list(self.segments[0])
            output = list(self.segments[0])
            values: list[int] = []
            passes = 0
            for slot, answer_field in enumerate(self.fields):
                closing = self.segments[slot + 1]
                digit_tokens = self.slot_digits[slot]
                if expected:
                    logits = self._forward([pending], cache)
                    value, lookahead_passes = self._expected_value(logits[0], cache, closing[0], answer_field,
                                                                   digit_tokens)
                    passes += 1 + lookahead_passes
                    number = digit_tokens.encode_number(value)
                    output += number
                    pending = number
                else:
                    digits, pending, number_passes = self._greedy_number(pending, cache, closing[0], output,
                                                                         answer_field, digit_tokens)
                    passes += number_passes
                    value = int(digits)
                values.append(value)
                output += closing
                pending = pending + list(closing)
        text = self.tokenizer.decode(output, skip_special_tokens=True)
        return DecodeResult(output, text, tuple(values), passes, cached)

    def _greedy_number(
        self, pending: list[int], cache: Any, closing_id: int, output: list[int], answer_field: AnswerField,
        digit_tokens: DigitTokens,
    ) -> tuple[str, list[int], int]:
        """Argmax over the allowed digit tokens until the model closes the slot or the number cannot grow.

        Returns the digits, the tokens still pending and the passes run;
        chosen digit tokens are appended to ``output``.
        """
        import torch

        digits, passes = "", 0
        while True:
            options = digit_tokens.continuations(digits)
            if not options:
                return digits, pending, passes
            logits = self._forward([pending], cache)
            passes += 1
            closable = can_end(digits, answer_field.low, answer_field.high)
            candidates = [token_id for token_id, _ in options] + ([closing_id] if closable else [])
            choice = int(torch.argmax(logits[0, [self._column[token_id] for token_id in candidates]]))
            if choice == len(options):
                return digits, [], passes
            token_id, digits = options[choice]
            output.append(token_id)
            pending = [token_id]

    def _expected_value(self, slot_logits: torch.Tensor, slot_cache: Any, closing_id: int, answer_field: AnswerField,
                        digit_tokens: DigitTokens) -> tuple[int, int]:
        """Rounded expectation of the slot's value distribution, and the look-ahead passes it took."""
        import torch

        mass: dict[int, float] = defaultdict(float)
        frontier = [_Branch((), "", 1.0, slot_logits)]
        passes = 0
        while frontier:
            to_expand: list[_Branch] = []
            for branch in frontier:
                options = digit_tokens.continuations(branch.digits)
                candidates = [token_id for token_id, _ in options]
                closable = can_end(branch.digits, answer_field.low, answer_field.high)
                if closable:
                    candidates.append(closing_id)
                columns = [self._column[token_id] for token_id in candidates]
                probabilities = torch.softmax(branch.logits[columns].float(), dim=-1).tolist()
                if closable:
                    mass[int(branch.digits)] += branch.probability * probabilities[-1]
                for (token_id, digits), probability in zip(options, probabilities):
                    child = _Branch((*branch.token_ids, token_id), digits, branch.probability * probability)
                    if digit_tokens.continuations(digits) and child.probability >= self.min_branch_probability:
                        to_expand.append(child)
                    else:
                        mass[int(digits)] += child.probability
            if to_expand:
                logits = self._lookahead(slot_cache, [branch.token_ids for branch in to_expand])
                passes += 1
                for branch, row in zip(to_expand, logits):
                    branch.logits = row
            frontier = to_expand
        total = sum(mass.values())
        expectation = sum(value * share for value, share in mass.items()) / total
        return min(answer_field.high, max(answer_field.low, round(expectation))), passes

    def _lookahead(self, slot_cache: Any, paths: list[tuple[int, ...]]) -> torch.Tensor:
        """Last-position logits for equal-length token paths from the slot start, batched over a cache copy."""
        cache = copy.deepcopy(slot_cache)
        cache.batch_repeat_interleave(len(paths))
        return self._forward([list(path) for path in paths], cache)

    def _request_cache(self, prompt_ids: Sequence[int]) -> tuple[Any, int]:
        """A private copy of the prefix cache covering the longest shared start of the prompt, and its length.

        The shared start is usually the whole cached prefix; it falls short
        only when the tokenizer merges the prefix's last characters with the
        request text, and then the copy is cropped to what still matches.
        """
        from transformers import DynamicCache

        if self._prefix_cache is None:
            return DynamicCache(config=self.model.config), 0
        shared = 0
        limit = min(len(self._prefix_ids), len(prompt_ids))
        while shared < limit and self._prefix_ids[shared] == prompt_ids[shared]:
            shared += 1
        if shared == 0:
            return DynamicCache(config=self.model.config), 0
        cache = copy.deepcopy(self._prefix_cache)
        if shared < len(self._prefix_ids):
            cache.crop(shared - len(self._prefix_ids))  # transformers 5: a negative count of tokens to drop
        return cache, shared

    def _restricted_head(self) -> tuple[Any, torch.Tensor, torch.Tensor | None] | None:
        """(decoder, weight rows, bias) of the output layer for the slot tokens, if the model's logits are just that.

        Checked on a probe rather than assumed: ``get_decoder`` is a
        best-effort lookup, and some architectures transform their logits.
        The rows are a copy, so the weights must be final (adapters merged)
        before a decoder is built.
        """
        import torch

        head = self.model.get_output_embeddings()
        if not isinstance(head, torch.nn.Linear):
            return None
        decoder = self.model.get_decoder()
        ids = torch.tensor(self._slot_token_ids, device=self.model.device)
        restricted = (decoder, head.weight.detach()[ids], None if head.bias is None else head.bias.detach()[ids])
        probe = torch.tensor([list(self.segments[0])], device=self.model.device)
        with torch.inference_mode():
            try:
                hidden = decoder(input_ids=probe).last_hidden_state[0, -1]
            except (AttributeError, TypeError, ValueError):
                return None
            expected = self.model(input_ids=probe).logits[0, -1, ids].float()
            actual = torch.nn.functional.linear(hidden, *restricted[1:]).float()
        tolerance = 1e-3 if hidden.dtype == torch.float32 else 5e-2
        return restricted if torch.allclose(actual, expected, rtol=tolerance, atol=tolerance) else None

    def _forward(self, rows: list[list[int]], cache: Any) -> torch.Tensor:
        """Last-position logits of the slot tokens (columns: ``_column``), one row per input row.

        The model extends ``cache`` in place.
        """
        import torch

        input_ids = torch.tensor(rows, dtype=torch.long, device=self.model.device)
        if self._head is not None:
            decoder, weight, bias = self._head
            hidden = decoder(input_ids=input_ids, past_key_values=cache, use_cache=True).last_hidden_state
            return torch.nn.functional.linear(hidden[:, -1, :], weight, bias)
        kwargs: dict[str, Any] = {"logits_to_keep": 1} if self._keeps_last_logits_only else {}
        outputs = self.model(input_ids=input_ids, past_key_values=cache, use_cache=True, **kwargs)
        return outputs.logits[:, -1, self._slot_token_ids]
