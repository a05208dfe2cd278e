"""Keep a few models warm in the inference worker (issue #5): an LRU cache keyed by (base model, adapter).

Why: loading a model (and merging its adapter, and running its prompt
prefix) takes seconds, a playground request should take well under one, and
designers compare two to four models side by side. Memory bounds how many
stay resident, so the least recently used one goes first.

The cached value is whatever ``loader`` builds: a ``LoadedModel`` by default,
or a ready predictor when the caller wants the prompt-prefix cache kept warm
too.
"""

from __future__ import annotations

import gc
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

Key = tuple[str, str | None]  # (base model, adapter or None)
T = TypeVar("T")


def _load_model(model_name: str, adapter: str | None) -> object:
    from pipeline.infer.hf import load_model

    return load_model(model_name, adapter)


class ModelCache(Generic[T]):
    """At most ``max_models`` loaded models; thread-safe; a key is loaded once even when asked for concurrently.

    Loading happens outside the cache-wide lock, so a slow load of one model
    does not block requests for models already warm.
    """

    def __init__(self, max_models: int = 2, loader: Callable[[str, str | None], T] = _load_model) -> None:
        if max_models < 1:
            raise ValueError(f"max_models must be at least 1, got {max_models}")
        self.max_models = max_models
        self._loader = loader
        self._entries: OrderedDict[Key, T] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Key, threading.Lock] = {}

    def get_or_load(self, key: Key) -> T:
        """The value for ``key``, loading it on a miss and evicting the least recently used beyond the limit."""
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            loading = self._loading.setdefault(key, threading.Lock())
        evicted: list[T] = []
        with loading:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
                    return self._entries[key]
            try:
                value = self._loader(*key)
                with self._lock:
                    self._entries[key] = value
                    while len(self._entries) > self.max_models:
                        evicted.append(self._entries.popitem(last=False)[1])
            finally:
                with self._lock:
                    self._loading.pop(key, None)
        if evicted:
            evicted.clear()  # our last references: the collection below can then free the models
            _release_memory()
        return value

    def keys(self) -> list[Key]:
        """Cached keys, least recently used first."""
        with self._lock:
            return list(self._entries)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def clear(self) -> None:
        """Drop every model, e.g. when the worker shuts down or an adapter was replaced on disk."""
        with self._lock:
            self._entries.clear()
        _release_memory()


def _release_memory() -> None:
    """Give an evicted model's memory back now rather than at some later collection.

    Model graphs hold reference cycles, so dropping the last reference is not
    enough; on CUDA the caching allocator also keeps freed blocks until asked.
    """
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
