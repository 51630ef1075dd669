"""Helpers for fault tests that run real `converge` processes: queueing work, reading the
process tree from /proc, and waiting for conditions with deadlines (never fixed sleeps)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from converge.conversations.inbound.queue import inbound_accept
from converge.conversations.models import Direction, InboundEvent, Message
from converge.providers.types import InboundMessage


def queue_inbound(channel: Any, count: int, prefix: str) -> None:
    """`count` patient messages accepted as a webhook accepts them: due now, for a worker."""
    messages = [
        InboundMessage(provider_message_id=f"{prefix}-{i}", sender_address=f"+1555300{i:04d}", body="hello")
        for i in range(count)
    ]
    for start in range(0, count, 100):
        inbound_accept(channel=channel, messages=messages[start : start + 100])


def stored_inbound(channel: Any) -> int:
    return Message.objects.filter(channel=channel, direction=Direction.INBOUND).count()


def claimed_by_pid(pid: int) -> list[int]:
    """Inbound rows claimed by the worker process `pid` (worker ids are host:pid:uuid)."""
    return [
        pk for pk, by in InboundEvent.objects.exclude(leased_by="").values_list("pk", "leased_by") if _pid(by) == pid
    ]


def _pid(worker_id: str) -> int:
    parts = worker_id.rsplit(":", 2)
    return int(parts[1]) if len(parts) == 3 and parts[1].isdigit() else -1


def wait_for(what: str, condition: Callable[[], object], timeout: float, poll: float = 0.02) -> float:
    """Seconds until `condition()` is true; fails naming `what` after `timeout`."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout:g} s: {what}")
        time.sleep(poll)
    return time.monotonic() - start


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, state) of a process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return int(fields[1]), fields[0]


def alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[1] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """Living direct children of `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and stat[0] == pid and alive(int(entry)):
            found.append(int(entry))
    return found


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return ""


def worker_children(pid: int) -> list[int]:
    return [child for child in children(pid) if "'worker'" in cmdline(child)]
