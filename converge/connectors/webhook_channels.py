"""The enabled channel a webhook URL names, read from the database at most every few seconds.

A provider posts every message to the same URL, and reading the channel was a third of the work of
accepting one (its practice is not read: accepting a message does not need it). A change saved in
this process clears the cache at once; other processes see it within TTL_SECONDS, so a channel
disabled elsewhere may accept a few seconds more of (still signature-checked) messages.
"""

from __future__ import annotations

import copy
import threading
import time
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

from converge.connectors.models import Channel

TTL_SECONDS = 5.0
_MAX_ENTRIES = 10_000  # unknown keys from scanners are cached too; never let them grow memory

# (key, provider) -> (expires, the channel's column values, or None)
_cache: dict[tuple[str, str], tuple[float, tuple[Any, ...] | None]] = {}
_lock = threading.Lock()


def webhook_channel(key: str, provider: str) -> Channel | None:
    now = time.monotonic()
    hit = _cache.get((key, provider))
    if hit is None or hit[0] <= now:
        channel = Channel.objects.filter(key=key, provider=provider, enabled=True).first()
        hit = (now + TTL_SECONDS, _values(channel) if channel is not None else None)
        with _lock:
            if len(_cache) >= _MAX_ENTRIES:
                _cache.clear()
            _cache[(key, provider)] = hit
    if hit[1] is None:
        return None
    # New instances per request: model instances are mutable and requests run on several threads.
    values = tuple(copy.deepcopy(v) if isinstance(v, dict | list) else v for v in hit[1])
    return Channel.from_db(DEFAULT_DB_ALIAS, _attnames(Channel), values)


def _attnames(model: type[Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _values(instance: Model) -> tuple[Any, ...]:
    return tuple(getattr(instance, name) for name in _attnames(type(instance)))


def forget_webhook_channels(**_kwargs: Any) -> None:
    with _lock:
        _cache.clear()


post_save.connect(forget_webhook_channels, sender=Channel, dispatch_uid="webhook-channel-cache-save")
post_delete.connect(forget_webhook_channels, sender=Channel, dispatch_uid="webhook-channel-cache-delete")
