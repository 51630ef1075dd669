"""Process-local caches of rarely changed rows (per-practice settings) read on hot paths.

An entry lives TTL_SECONDS; saving or deleting one of the watched models in this process clears
the cache at once, and other processes (web, worker) see the change within TTL_SECONDS. Callers
treat cached objects as read-only: writers read the row themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from django.db.models import Model
from django.db.models.signals import post_delete, post_save

TTL_SECONDS = 5.0
V = TypeVar("V")

_all: list[LocalCache[Any]] = []


class LocalCache(Generic[V]):
    def __init__(self, name: str, *, watch: Iterable[type[Model]], max_entries: int = 10_000) -> None:
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries
        for model in watch:
            post_save.connect(self.clear, sender=model, dispatch_uid=f"localcache-{name}-save-{model.__name__}")
            post_delete.connect(self.clear, sender=model, dispatch_uid=f"localcache-{name}-delete-{model.__name__}")
        _all.append(self)

    def get(self, key: Hashable, load: Callable[[], V]) -> V:
        now = time.monotonic()
        hit = self._entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = load()
        with self._lock:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # keys an attacker chooses must not grow memory
            self._entries[key] = (now + TTL_SECONDS, value)
        return value

    def clear(self, **_signal: Any) -> None:
        with self._lock:
            self._entries.clear()


def clear_local_caches() -> None:
    for cache in _all:
        cache.clear()
