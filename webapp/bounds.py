"""The range of every number a form takes (issue #13): one table for the dataset, training and loop forms.

Each entry is the keyword arguments of a form field (``forms.IntegerField(**MAX_STEPS)``), so a field shared
by two forms cannot drift, and no count (steps, epochs, rows, cycles, batch) can be absurd: 10^12 steps would
hold the gpu queue for good.
"""

from __future__ import annotations

from typing import Final

Bounds = dict[str, float]

# Data: rows a data cycle generates, and per loop cycle (a loop needs enough rows to split three ways).
DATASET_SIZE: Final[Bounds] = {"min_value": 10, "max_value": 100_000}
LOOP_SIZE: Final[Bounds] = {"min_value": 50, "max_value": 100_000}
CYCLES: Final[Bounds] = {"min_value": 1, "max_value": 20}
SEED: Final[Bounds] = {"min_value": 0, "max_value": 2**31 - 1}
TEACHER_BUDGET_USD: Final[Bounds] = {"min_value": 0, "max_value": 10_000}

# Training.
NUM_EPOCHS: Final[Bounds] = {"min_value": 0.01, "max_value": 100}
MAX_STEPS: Final[Bounds] = {"min_value": -1, "max_value": 100_000}  # -1: by epochs
LEARNING_RATE: Final[Bounds] = {"min_value": 1e-7, "max_value": 1.0}
BATCH_SIZE: Final[Bounds] = {"min_value": 1, "max_value": 512}
GRADIENT_ACCUMULATION_STEPS: Final[Bounds] = {"min_value": 1, "max_value": 512}
MAX_SEQ_LENGTH: Final[Bounds] = {"min_value": 32, "max_value": 8192}
WARMUP_RATIO: Final[Bounds] = {"min_value": 0, "max_value": 0.99}
LORA_R: Final[Bounds] = {"min_value": 1, "max_value": 1024}
LORA_ALPHA: Final[Bounds] = {"min_value": 1, "max_value": 4096}
LORA_DROPOUT: Final[Bounds] = {"min_value": 0, "max_value": 0.9}
EVAL_STEPS: Final[Bounds] = {"min_value": 1, "max_value": 100_000}
LOGGING_STEPS: Final[Bounds] = {"min_value": 1, "max_value": 100_000}
CHECKPOINT_MINUTES: Final[Bounds] = {"min_value": 0.01, "max_value": 600}
