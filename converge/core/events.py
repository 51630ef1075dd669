"""Live events to staff browsers. Events are notifications, not the record: they carry ids only
(never PHI), go out after the transaction commits, and a client that missed one re-reads."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.db import transaction

log = logging.getLogger(__name__)

# The event loop of the ASGI server in this process, when there is one. Threads that are not
# part of it (the embedded worker) hand their sends to it: the in-memory layer is not thread-safe.
_server_loop: asyncio.AbstractEventLoop | None = None


def set_server_loop(loop: asyncio.AbstractEventLoop | None) -> None:
    global _server_loop
    _server_loop = loop


def practice_group(practice_id: int) -> str:
    return f"practice.{practice_id}"


def user_group(user_id: int) -> str:
    return f"user.{user_id}"


def team_group(team_id: int) -> str:
    return f"team.{team_id}"


_publisher: asyncio.AbstractEventLoop | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _publisher
    with _publisher_lock:
        if _publisher is None or not _publisher.is_running():
            loop = asyncio.new_event_loop()
            started = threading.Event()
            loop.call_soon(started.set)
            threading.Thread(target=loop.run_forever, name="converge-events", daemon=True).start()
            started.wait(5)
            _publisher = loop
        return _publisher


def publish_on_commit(groups: Iterable[str], event: dict[str, Any]) -> None:
    targets = list(groups)
    transaction.on_commit(lambda: publish_now(targets, event))


def publish_now(groups: list[str], event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        try:
            for group in groups:
                await layer.group_send(group, {"type": "converge.event", "event": event})
        except Exception as exc:  # on the publisher thread nobody awaits this: say it here
            _publish_failed(event, exc)

    try:
        loop = _server_loop
        if (loop is None or not loop.is_running()) and isinstance(layer, RedisChannelLayer):
            # No ASGI server here (a worker process, or a web process under uvicorn --workers):
            # hand the send to this process's publisher thread instead of starting and stopping
            # an event loop for every event. The Redis layer keeps a connection pool per loop.
            loop = _publisher_loop()
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                loop.create_task(send_all())
            else:
                asyncio.run_coroutine_threadsafe(send_all(), loop)
        else:
            async_to_sync(send_all)()
    except Exception as exc:  # a lost notification must never break the write that caused it
        _publish_failed(event, exc)


# While Redis is away every event fails: one line per this many seconds, not one per event.
FAILURE_LOG_SECONDS = 5.0
_failure_logged_at: float | None = None


def _publish_failed(event: dict[str, Any], exc: Exception) -> None:
    """The event is dropped; pages re-read what they show when their socket is back."""
    global _failure_logged_at
    now = time.monotonic()
    if _failure_logged_at is not None and now - _failure_logged_at < FAILURE_LOG_SECONDS:
        return
    _failure_logged_at = now
    log.warning("event publish failed, dropped type=%s: %s: %s", event.get("type"), type(exc).__name__, exc)
