"""Is anyone there? Business hours (in the practice's time zone) and staff WebSocket presence,
turned into the line the chat widget shows a visitor.

Presence is one row per open staff WebSocket, refreshed by a heartbeat; a row that was not
refreshed for `PRESENCE_TTL` no longer counts, so a killed web process cannot leave staff
"online" for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from channels.db import database_sync_to_async

from converge.connectors.models import StaffPresence
from converge.core import clock
from converge.core.jobs import periodic
from converge.practices.hours import closing_time, next_opening
from converge.practices.models import Practice

log = logging.getLogger(__name__)

PRESENCE_TTL = timedelta(seconds=150)
HEARTBEAT_SECONDS = 60.0


# --- staff presence --------------------------------------------------------------------------------


def staff_presence_touch(*, practice_id: int, staff_id: int, connection: str) -> None:
    now = clock.now()
    updated = StaffPresence.objects.filter(connection=connection).update(last_seen_at=now)
    if not updated:
        StaffPresence.objects.update_or_create(
            connection=connection,
            defaults={"practice_id": practice_id, "staff_id": staff_id, "last_seen_at": now},
        )


def staff_presence_drop(*, connection: str) -> None:
    StaffPresence.objects.filter(connection=connection).delete()


def staff_online(practice_id: int) -> bool:
    return StaffPresence.objects.filter(practice_id=practice_id, last_seen_at__gte=clock.now() - PRESENCE_TTL).exists()


async def staff_presence_join(consumer: Any, *, practice_id: int, staff_id: int) -> None:
    """Called by the staff WebSocket consumer once connected: records presence and keeps it
    fresh until `staff_presence_leave`."""
    connection = consumer.channel_name

    async def heartbeat() -> None:
        while True:
            try:
                await database_sync_to_async(staff_presence_touch)(
                    practice_id=practice_id, staff_id=staff_id, connection=connection
                )
            except Exception:  # presence is a hint for visitors; it must never break the staff socket
                log.warning("staff presence update failed staff=%s", staff_id, exc_info=True)
            await asyncio.sleep(HEARTBEAT_SECONDS)

    consumer._presence_task = asyncio.ensure_future(heartbeat())


async def staff_presence_leave(consumer: Any) -> None:
    task = getattr(consumer, "_presence_task", None)
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    with contextlib.suppress(Exception):
        await database_sync_to_async(staff_presence_drop)(connection=consumer.channel_name)


@periodic("webchat.presence_cleanup", every=timedelta(minutes=10))
def presence_cleanup() -> int:
    deleted, _ = StaffPresence.objects.filter(last_seen_at__lt=clock.now() - PRESENCE_TTL * 4).delete()
    return deleted


def _when(opening: datetime, now: datetime) -> str:
    local_now = now.astimezone(opening.tzinfo)
    clock_text = opening.strftime("%I:%M %p").lstrip("0")
    days = (opening.date() - local_now.date()).days
    if days == 0:
        return f"today at {clock_text}"
    if days == 1:
        return f"tomorrow at {clock_text}"
    return f"on {opening.strftime('%A')} at {clock_text}"


@dataclass(frozen=True)
class Availability:
    open_now: bool
    staff_online: bool
    next_open: datetime | None
    notice: str

    @property
    def available(self) -> bool:
        return self.open_now and self.staff_online

    def as_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "open_now": self.open_now,
            "next_open": self.next_open.isoformat() if self.next_open else None,
            "notice": self.notice,
        }


def practice_availability(practice: Practice, now: datetime | None = None) -> Availability:
    now = now or clock.now()
    closes = closing_time(practice, now)
    open_now = closes is not None
    online = staff_online(practice.pk)
    opening = None if open_now else next_opening(practice, now)
    if open_now and online:
        notice = "We're online and usually reply within a few minutes."
    elif closes is not None:
        until = closes.strftime("%I:%M %p").lstrip("0")
        notice = (
            "No one is at the desk right now. Leave a message and we'll reply as soon as someone is back "
            f"(we're open until {until})."
        )
    elif opening is not None:
        tz_name = opening.strftime("%Z")
        notice = f"We're closed right now. Leave a message and we'll answer {_when(opening, now)} ({tz_name})."
    else:
        notice = "Leave a message and we'll answer as soon as we can."
    return Availability(open_now=open_now, staff_online=online, next_open=opening, notice=notice)
