"""The rule baseline: the option whose words the question (and any retrieved context) mentions most."""

from __future__ import annotations

from pipeline.tasks.multiple_choice.parsing import parse_options, question_stem
from pipeline.tasks.multiple_choice.retrieval import terms
from pipeline.tasks.multiple_choice.schema import LETTERS
from pipeline.tasks.predictors import RulePredictor


class OptionOverlapBaseline(RulePredictor):
    """Picks the option whose terms appear most in the question stem (and any retrieved context).

    Score = share of an option's terms found in the stem; ties and all-zero
    scores go to the first option. No model and no training data: on questions
    whose options never appear in the text (arithmetic, most lore without
    context) it is a chance-level floor, with pattern D's context it can read
    the answer off the passage. Output is "Answer: X", or "" when no options
    can be read (an invalid answer).
    """

    @staticmethod
    def choose(text: str) -> str | None:
        """The letter this rule picks for one question, None without options."""
        options = parse_options(text)
        if not options:
            return None
        stem_terms = set(terms(question_stem(text)))

        def overlap(letter: str) -> float:
            option_terms = terms(options[letter])
            return sum(term in stem_terms for term in option_terms) / len(option_terms) if option_terms else 0.0

        return max(sorted(options), key=lambda letter: (overlap(letter), -LETTERS.index(letter)))

    def answer(self, text: str) -> str:
        letter = self.choose(text)
        return f"Answer: {letter}" if letter else ""
