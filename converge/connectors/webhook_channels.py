"""The enabled channel a webhook URL names, read from the database at most every few seconds.

A provider posts every message to the same URL, and reading the channel was a third of the work of
accepting one (its practice is not read: accepting a message does not need it). Other processes see
a change within converge.core.localcache.TTL_SECONDS, so a channel disabled elsewhere may accept a
few seconds more of (still signature-checked) messages.
"""

from __future__ import annotations

import copy
from typing import Any

from django.db import DEFAULT_DB_ALIAS

from converge.connectors.models import Channel
from converge.core.localcache import LocalCache

# (key, provider) -> the channel's column values, or None for no such enabled channel
_channels: LocalCache[tuple[Any, ...] | None] = LocalCache("webhook-channels", watch=[Channel])
_ATTNAMES = [f.attname for f in Channel._meta.concrete_fields]


def webhook_channel(key: str, provider: str) -> Channel | None:
    def load() -> tuple[Any, ...] | None:
        channel = Channel.objects.filter(key=key, provider=provider, enabled=True).first()
        return tuple(getattr(channel, name) for name in _ATTNAMES) if channel is not None else None

    values = _channels.get((key, provider), load)
    if values is None:
        return None
    # A new instance per request: model instances are mutable and requests run on several threads.
    return Channel.from_db(
        DEFAULT_DB_ALIAS, _ATTNAMES, tuple(copy.deepcopy(v) if isinstance(v, dict | list) else v for v in values)
    )
