"""Constrained decoding: strictly valid JSON from any model, fewer passes, a reusable prompt-prefix cache.

The models here are tiny random Llamas with tokenizers trained on the fly, so
the tests say nothing about quality, only about the decoder's guarantees.
One tokenizer splits numbers into digits (like SmolLM2's), the other has a
token for every number 0-100 (like tokenizers that group digits).
"""

from __future__ import annotations

import functools
import random

import pytest
import torch

from pipeline.infer.constrained import (
    ConstrainedDecoder,
    DigitTokens,
    allowed_next_digits,
    can_end,
    is_number_prefix,
)
from pipeline.tasks.hidden_params import AXES, SYSTEM_PROMPT, TASK, chat_messages, format_target, parse

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
WORDS = ("calm upbeat jazz piano rainy night summer road trip warm bright old retro soft loud complex simple "
         "acoustic synth 静か 温かい 曲 懐かしい").split()


@functools.cache
def tiny_tokenizer(digits: str = "split"):
    """A byte-level BPE trained in a second: "split" keeps digits apart, "grouped" learns tokens like "42", "100"."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    rng = random.Random(0)
    corpus = [SYSTEM_PROMPT] * 50  # frequent enough to merge into few tokens: short prompts keep tests fast
    for _ in range(300):
        corpus.append(" ".join(rng.sample(WORDS, 5)))
        corpus.append(format_target([rng.randint(0, 100) for _ in AXES]))
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=digits == "split"),
        pre_tokenizers.ByteLevel(add_prefix_space=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=600 if digits == "split" else 900,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    ))
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   chat_template=CHATML)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and on a shared 2-core machine two threads wait on each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(tokenizer, seed: int = 0, init_range: float = 0.02):
    """A random 2-layer Llama; a larger ``init_range`` gives peakier, more varied choices."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
        initializer_range=init_range, tie_word_embeddings=False,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
    )
    return LlamaForCausalLM(config).eval()


def biased(model, tokenizer, favoured: dict[str, float]):
    """The model with a logit bias on some tokens, to drive the decoder down a known path."""
    head = torch.nn.Linear(model.config.hidden_size, model.config.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        for token, bias in favoured.items():
            head.bias[tokenizer.convert_tokens_to_ids(token)] = bias
    model.lm_head = head
    return model


def render(tokenizer, text: str) -> str:
    return tokenizer.apply_chat_template(chat_messages(text), tokenize=False, add_generation_prompt=True)


def prompt_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(render(tokenizer, text), add_special_tokens=False)["input_ids"]


def prefix_ids(tokenizer) -> list[int]:
    rendered = render(tokenizer, "\x00")
    return tokenizer(rendered[: rendered.index("\x00")], add_special_tokens=False)["input_ids"]


def decoder_for(model, tokenizer, cached: bool = False, **options) -> ConstrainedDecoder:
    decoder = ConstrainedDecoder(model, tokenizer, render(tokenizer, "x"), fields=TASK.answer_fields, **options)
    if cached:
        decoder.cache_prefix(prefix_ids(tokenizer))
    return decoder


def random_request(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12)))


@pytest.mark.parametrize(("digits", "allowed"), [
    ("", tuple("0123456789")),
    ("1", tuple("0123456789")),
    ("9", tuple("0123456789")),
    ("10", ("0",)),
    ("0", ()),
    ("100", ()),
    ("20", ()),
    ("99", ()),
])
def test_it_allows_only_digits_that_keep_the_number_valid(digits, allowed):
    assert allowed_next_digits(digits) == allowed


def test_it_tells_valid_number_prefixes_and_complete_numbers():
    assert all(is_number_prefix(s) for s in ("", "0", "7", "10", "100", "99"))
    assert not any(is_number_prefix(s) for s in ("01", "00", "101", "1000", "200", "-1", "1a", "\u0661"))
    assert not can_end("")
    assert all(can_end(s) for s in ("0", "5", "10", "100"))


def test_it_extends_numbers_token_by_token_with_single_digit_tokens():
    digit_tokens = DigitTokens(tiny_tokenizer("split"))

    assert sorted(digits for _, digits in digit_tokens.continuations("")) == list("0123456789")
    assert [digits for _, digits in digit_tokens.continuations("10")] == ["100"]
    assert digit_tokens.continuations("0") == ()
    assert len(digit_tokens.encode_number(100)) == 3


def test_it_admits_multi_digit_tokens_only_where_all_their_digits_fit():
    tokenizer = tiny_tokenizer("grouped")
    digit_tokens = DigitTokens(tokenizer)

    from_empty = {digits for _, digits in digit_tokens.continuations("")}
    assert {"0", "7", "42", "100"} <= from_empty
    assert {digits for _, digits in digit_tokens.continuations("5")} == {f"5{d}" for d in range(10)}
    assert [digits for _, digits in digit_tokens.continuations("10")] == ["100"]
    assert tokenizer.convert_ids_to_tokens(digit_tokens.encode_number(100)) == ["100"]


@pytest.mark.parametrize("digits", ["split", "grouped"])
@pytest.mark.parametrize("expected", [False, True], ids=["greedy", "expected"])
def test_it_always_yields_strictly_valid_canonical_json(digits, expected):
    tokenizer = tiny_tokenizer(digits)
    rng = random.Random(7)
    for seed, init_range in ((0, 0.02), (1, 0.3), (2, 1.0)):
        decoder = decoder_for(tiny_model(tokenizer, seed, init_range), tokenizer, cached=seed % 2 == 1)
        for _ in range(6):
            result = decoder.decode(prompt_ids(tokenizer, random_request(rng)), expected=expected)

            assert parse(result.text) == result.values
            assert result.text == format_target(result.values)
            assert all(0 <= value <= 100 for value in result.values)


@pytest.mark.parametrize(("digits", "favoured", "values", "passes"), [
    # "1" then "1": 11 cannot grow, so the slot ends without asking the model: two passes per value.
    ("split", {"1": 30.0}, (11,) * 6, 12),
    # "0" cannot grow: one pass per value.
    ("split", {"0": 30.0}, (0,) * 6, 6),
    # "7", then the model prefers to close.
    ("split", {"7": 30.0, ',"': 40.0, "}": 40.0}, (7,) * 6, 12),
    # One token "10", which may only grow to "100", then ends without asking.
    ("grouped", {"10": 30.0, "0": 20.0}, (100,) * 6, 12),
])
def test_it_forces_the_skeleton_and_stops_numbers_that_cannot_grow(digits, favoured, values, passes):
    tokenizer = tiny_tokenizer(digits)
    decoder = decoder_for(biased(tiny_model(tokenizer), tokenizer, favoured), tokenizer)

    result = decoder.decode(prompt_ids(tokenizer, "calm piano"))

    assert result.values == values
    assert result.forward_passes == passes
    # Free generation needs one pass per output token, plus one for the end of turn.
    assert result.forward_passes < len(result.token_ids) + 1


def test_the_prefix_cache_gives_the_same_answers_as_running_the_whole_prompt():
    tokenizer = tiny_tokenizer("split")
    model = tiny_model(tokenizer, seed=3, init_range=0.5)
    uncached, cached = decoder_for(model, tokenizer), decoder_for(model, tokenizer, cached=True)
    rng = random.Random(3)
    for _ in range(4):
        ids = prompt_ids(tokenizer, random_request(rng))
        for expected in (False, True):
            plain, reused = uncached.decode(ids, expected), cached.decode(ids, expected)

            assert reused.token_ids == plain.token_ids
            assert reused.forward_passes == plain.forward_passes
            assert plain.cached_prompt_tokens == 0
            assert reused.cached_prompt_tokens == len(prefix_ids(tokenizer))


def test_a_prefix_cache_that_diverges_from_the_prompt_is_cropped_to_the_shared_part():
    tokenizer = tiny_tokenizer("split")
    model = tiny_model(tokenizer, seed=4, init_range=0.5)
    ids = prompt_ids(tokenizer, "soft retro synth")
    shared = len(prefix_ids(tokenizer))
    decoder = decoder_for(model, tokenizer)
    decoder.cache_prefix([*ids[:shared], tokenizer.convert_tokens_to_ids("jazz")])

    result = decoder.decode(ids)

    assert result.cached_prompt_tokens == shared
    assert result.token_ids == decoder_for(model, tokenizer).decode(ids).token_ids


def test_the_expected_value_is_the_mean_of_the_enumerated_value_distribution():
    tokenizer = tiny_tokenizer("split")
    model = tiny_model(tokenizer, seed=5, init_range=0.5)
    decoder = decoder_for(model, tokenizer, cached=True, min_branch_probability=0.0)
    ids = prompt_ids(tokenizer, "warm old jazz")
    start = [*ids, *decoder.segments[0]]
    closing = decoder.segments[1][0]

    def choice_probability(path: list[int], digits: str, chosen: int) -> float:
        with torch.no_grad():
            logits = model(torch.tensor([start + path])).logits[0, -1]
        candidates = [token_id for token_id, _ in decoder.digits.continuations(digits)]
        candidates += [closing] if can_end(digits) else []
        return torch.softmax(logits[candidates], dim=-1)[candidates.index(chosen)].item()

    expectation = 0.0
    for value in range(101):
        path, digits, probability = [], "", 1.0
        for token_id in decoder.digits.encode_number(value):
            probability *= choice_probability(path, digits, token_id)
            path.append(token_id)
            digits = str(value)[: len(path)]
        if decoder.digits.continuations(digits):
            probability *= choice_probability(path, digits, closing)
        expectation += probability * value

    assert decoder.decode(ids, expected=True).values[0] == round(expectation)


def test_only_slot_token_logits_are_computed_unless_the_model_transforms_its_logits():
    from transformers import LlamaForCausalLM

    class HalvedLogitsLlama(LlamaForCausalLM):
        def forward(self, *args, **kwargs):
            outputs = super().forward(*args, **kwargs)
            outputs.logits = outputs.logits / 2
            return outputs

    tokenizer = tiny_tokenizer("split")
    model = tiny_model(tokenizer, seed=6, init_range=0.5)
    halved = HalvedLogitsLlama(model.config).eval()
    halved.load_state_dict(model.state_dict())
    restricted, full = decoder_for(model, tokenizer), decoder_for(halved, tokenizer)
    ids = prompt_ids(tokenizer, "bright loud synth")

    assert restricted.restricted_head and not full.restricted_head
    # Halving changes no argmax, so both paths must pick the same tokens.
    assert full.decode(ids).token_ids == restricted.decode(ids).token_ids
