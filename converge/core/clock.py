"""The one place that reads the time, so tests can move it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.utils import timezone

_offset = timedelta(0)
_frozen: datetime | None = None


def now() -> datetime:
    if _frozen is not None:
        return _frozen
    return timezone.now() + _offset


@contextmanager
def frozen(at: datetime) -> Iterator[None]:
    global _frozen
    previous = _frozen
    _frozen = at
    try:
        yield
    finally:
        _frozen = previous


def advance(by: timedelta) -> None:
    """Move a frozen clock forward (or the live clock's offset)."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen += by
    else:
        _offset += by
