"""multiple_choice: a question with lettered options -> one letter, answered directly or after reasoning.

Input JSONL (DESIGN §3): ``{"input": str, "output": str, "meta": {"mode": "direct"|"cot", ...}}``.
``input`` holds the question and one option a line (``A. ...``, ``B) ...``,
``(C) ...``); ``output`` is the gold answer, either just the marker
(``Answer: B``) or short reasoning that ends with it (CoT). Letters run from
A to E: five options cover the usual exam formats, and a closed range keeps the
parser from reading "Answer: I think..." as option I.

Train modes (``--train-mode``): ``direct`` trains on ``Answer: X`` only (the
reasoning of a CoT row is dropped), ``cot`` on the reasoning then
``Answer: X`` (a row without reasoning is refused), ``auto`` on what each
row's ``meta.mode`` says. The assistant target always ends with the English
marker, whatever the row's language, so one parser reads every model.

The experiment patterns A-D are the ``presets``; D prepends passages found by
an offline BM25 index (``PassageIndex``) to each question before training and
evaluation (``prepare_rows``). The demo generator ships its own passages.

One module per concern: ``schema``, ``parsing``, ``validate``, ``prompt``,
``retrieval`` (pattern D), ``rules`` (baseline), ``metrics``, ``clean`` (drop
reasons, split), ``demo`` (offline generator) and ``task`` (the
registry's ``Task``). Demo corpora and presets are package data in ``data/``.
"""

from pipeline.tasks.multiple_choice.clean import CLEAN_OPTIONS, DROP_REASONS, clean, split
from pipeline.tasks.multiple_choice.demo import KINGDOMS, demo_passages, demo_rows
from pipeline.tasks.multiple_choice.metrics import HIGHER_IS_BETTER, charts, metrics
from pipeline.tasks.multiple_choice.parsing import parse_answer, parse_options, question_stem, split_output
from pipeline.tasks.multiple_choice.prompt import (
    CONTEXT_INSTRUCTION,
    CONTEXT_LABELS,
    SYSTEM_PROMPTS,
    chat_messages,
    prompt_mode,
)
from pipeline.tasks.multiple_choice.retrieval import PassageIndex, terms, with_retrieved_context
from pipeline.tasks.multiple_choice.rules import OptionOverlapBaseline
from pipeline.tasks.multiple_choice.schema import LANGUAGES, LETTERS, MODES, NAME, TRAIN_MODES
from pipeline.tasks.multiple_choice.task import PRESETS, TASK, MultipleChoiceTask
from pipeline.tasks.multiple_choice.validate import validate_row

__all__ = [
    "CLEAN_OPTIONS", "CONTEXT_INSTRUCTION", "CONTEXT_LABELS", "DROP_REASONS", "HIGHER_IS_BETTER", "KINGDOMS",
    "LANGUAGES", "LETTERS", "MODES", "NAME", "PRESETS", "SYSTEM_PROMPTS", "TASK", "TRAIN_MODES",
    "MultipleChoiceTask", "OptionOverlapBaseline", "PassageIndex", "charts", "chat_messages", "clean",
    "demo_passages", "demo_rows", "metrics", "parse_answer", "parse_options", "prompt_mode", "question_stem",
    "split", "split_output", "terms", "validate_row", "with_retrieved_context",
]
