"""Helpers the training tests share: one torch thread for tiny models, and chat JSONL of the hidden_params task."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from pipeline.tasks.hidden_params import chat_messages


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """A 64-wide model gains nothing from threads, and on a busy 2-core box they spin against each other (~8x).

    Autouse in the modules that import it (``from tests.helpers import one_torch_thread``).
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def write_chat_jsonl(path: Path, rows: int, seed: int, requests: Sequence[str]) -> Path:
    """``rows`` chat examples, the requests in turn with seeded random targets, one {"messages": [...]} a line."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as handle:
        for index in range(rows):
            target = [rng.randint(0, 100) for _ in range(6)]
            handle.write(json.dumps({"messages": chat_messages(requests[index % len(requests)], target)}) + "\n")
    return path
