"""When a practice is open: its weekly business hours in its own time zone, DST-safe.
Used by the chat widget's notice and by routing's after-hours reply."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, time, timedelta

from converge.practices.models import Practice


def _intervals(practice: Practice, day: date, tz: zoneinfo.ZoneInfo) -> list[tuple[datetime, datetime]]:
    hours = practice.business_hours or {}
    out = []
    for pair in hours.get(str(day.weekday()), []) or []:
        try:
            start, end = (time.fromisoformat(str(v)) for v in pair)
        except (TypeError, ValueError):
            continue
        # Wall-clock times on that date, so opening hours stay put across DST changes.
        out.append((datetime.combine(day, start, tz), datetime.combine(day, end, tz)))
    return out


def practice_open_now(practice: Practice, now: datetime) -> bool:
    return closing_time(practice, now) is not None


def closing_time(practice: Practice, now: datetime) -> datetime | None:
    """When the opening hours the practice is in now end; None when it is closed."""
    tz = zoneinfo.ZoneInfo(practice.time_zone)
    local = now.astimezone(tz)
    ends = [end for start, end in _intervals(practice, local.date(), tz) if start <= local < end]
    return max(ends) if ends else None


def next_opening(practice: Practice, now: datetime) -> datetime | None:
    tz = zoneinfo.ZoneInfo(practice.time_zone)
    local = now.astimezone(tz)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        starts = sorted(start for start, _end in _intervals(practice, day, tz) if start > local)
        if starts:
            return starts[0]
    return None
