"""Open appointment slots for one provider at one location: pure logic, no database.

Local wall-clock rules (working hours, exceptions) are turned into real UTC instants one local
day at a time, so a 9:00-17:00 day stays 9:00-17:00 local across daylight-saving changes.

Wall times that do not map to exactly one instant are resolved by `local_instant`:

* nonexistent (spring forward, e.g. 02:30 in New York on 2026-03-08): the instant the clock
  jumps. A block "02:30-05:00" therefore runs from 03:00 EDT, the first moment the clock reads
  at least 02:30, and a block ending at 02:30 ends at the jump.
* ambiguous (fall back, e.g. 01:30 in New York on 2026-11-01): a block starts at the first
  occurrence and ends at the last one, so it covers every moment the clock shows a time inside
  it; slots inside the repeated hour are offered at both occurrences (they are distinct instants).

Blocks of a day that touch or overlap are merged into one stretch of working time. Inside a
block, candidates step by `step` of real time from the block start. Offsets change by
whole multiples of 15 minutes in practice, so slots stay aligned to the local grid even in a
block that spans a transition.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

__all__ = [
    "Busy",
    "DateException",
    "WorkingHours",
    "hours_conflict",
    "local_instant",
    "open_slots",
]


@dataclass(frozen=True)
class WorkingHours:
    """A working block on a weekday (0 = Monday), in the location's local time."""

    weekday: int
    start: time
    end: time

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6:
            raise ValueError(f"weekday must be 0..6, got {self.weekday}")
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("working hours are naive local times")
        if self.end <= self.start:
            raise ValueError("working hours must end after they start (same day)")


@dataclass(frozen=True)
class DateException:
    """A change to one local date.

    * ``available=False`` without times: day off (wins over anything else that day).
    * ``available=False`` with times: a blocked range that day.
    * ``available=True`` with times: special hours; all such exceptions for the date replace the
      weekday's regular hours (which also makes them "extra" hours on a normally closed day).
    """

    day: date
    start: time | None
    end: time | None
    available: bool

    def __post_init__(self) -> None:
        if (self.start is None) != (self.end is None):
            raise ValueError("give both start and end, or neither")
        if self.start is None:
            if self.available:
                raise ValueError("an available exception needs start and end times")
            return
        assert self.end is not None
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("exception times are naive local times")
        if self.end <= self.start:
            raise ValueError("exception must end after it starts (same day)")


@dataclass(frozen=True)
class Busy:
    """An existing booking, already including its buffers. Aware datetimes."""

    start: datetime
    end: datetime


def _offset_at(instant: datetime, zone: tzinfo) -> timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def local_instant(day: date, wall: time, zone: tzinfo, *, prefer: Literal["earlier", "later"] = "earlier") -> datetime:
    """The UTC instant for a local wall time on a local date.

    Nonexistent wall times map to the instant of the jump; ambiguous ones to the earlier or
    later occurrence as asked (see the module docstring for why).
    """
    naive = datetime.combine(day, wall.replace(tzinfo=None))
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first.astimezone(UTC)
    utc_first = first.astimezone(UTC)
    utc_second = second.astimezone(UTC)
    if utc_first.astimezone(zone).replace(tzinfo=None) == naive:
        # Ambiguous: fold=0 is the first occurrence.
        return utc_first if prefer == "earlier" else utc_second
    # Nonexistent: the jump lies between the two readings; find it to the second.
    lo, hi = min(utc_first, utc_second), max(utc_first, utc_second)
    after = _offset_at(hi, zone)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid - timedelta(microseconds=mid.microsecond)
        if _offset_at(mid, zone) == after:
            hi = mid
        else:
            lo = mid
    return hi


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _merge(intervals: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    intervals.sort()
    merged: list[tuple[datetime, datetime]] = []
    for start, end in intervals:
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _day_blocks(
    day: date,
    zone: tzinfo,
    hours_by_weekday: dict[int, list[tuple[time, time]]],
    exceptions: list[DateException],
) -> list[tuple[datetime, datetime]]:
    if any(not e.available and e.start is None for e in exceptions):
        return []
    special = [(e.start, e.end) for e in exceptions if e.available]
    wall_blocks: list[tuple[time, time]]
    if special:
        wall_blocks = [(s, e) for s, e in special if s is not None and e is not None]
    else:
        wall_blocks = hours_by_weekday.get(day.weekday(), [])
    blocks = [
        (
            local_instant(day, start, zone, prefer="earlier"),
            local_instant(day, end, zone, prefer="later"),
        )
        for start, end in wall_blocks
    ]
    return _merge([b for b in blocks if b[1] > b[0]])


def _ceil_steps(delta: timedelta, step: timedelta) -> int:
    """Smallest k >= 0 with k * step >= delta."""
    if delta <= timedelta(0):
        return 0
    return -(-delta // step)


def open_slots(
    *,
    tz: str,
    hours: Sequence[WorkingHours],
    exceptions: Sequence[DateException],
    busy: Sequence[Busy],
    duration: timedelta,
    buffer: timedelta,
    range_start: datetime,
    range_end: datetime,
    now: datetime,
    min_notice: timedelta,
    step: timedelta = timedelta(minutes=15),
) -> list[tuple[datetime, datetime]]:
    """Bookable ``(start, end)`` pairs, aware UTC, sorted and unique.

    A slot is offered when:

    * the appointment ``[start, start + duration)`` lies inside one working block and inside
      ``[range_start, range_end]``;
    * ``start`` is on the block's ``step`` grid and ``start >= now + min_notice``;
    * ``[start, start + duration + buffer)`` overlaps no busy interval and no blocked range.
      The buffer is the provider's turnaround after the visit: it must be free, but may run
      past the end of the working block (the last visit of the day ends at closing time).
    """
    for name, value in (("range_start", range_start), ("range_end", range_end), ("now", now)):
        _require_aware(name, value)
    if duration <= timedelta(0):
        raise ValueError("duration must be positive")
    if step <= timedelta(0):
        raise ValueError("step must be positive")
    if buffer < timedelta(0) or min_notice < timedelta(0):
        raise ValueError("buffer and min_notice must not be negative")
    zone = ZoneInfo(tz)
    range_start = range_start.astimezone(UTC)
    range_end = range_end.astimezone(UTC)
    if range_end <= range_start:
        return []
    earliest = max(range_start, (now + min_notice).astimezone(UTC))

    hours_by_weekday: dict[int, list[tuple[time, time]]] = defaultdict(list)
    for wh in hours:
        hours_by_weekday[wh.weekday].append((wh.start, wh.end))
    exceptions_by_day: dict[date, list[DateException]] = defaultdict(list)
    for exc in exceptions:
        exceptions_by_day[exc.day].append(exc)

    taken: list[tuple[datetime, datetime]] = []
    for b in busy:
        _require_aware("busy interval", b.start)
        _require_aware("busy interval", b.end)
        if b.end < b.start:
            raise ValueError("busy interval ends before it starts")
        if b.end > b.start:
            taken.append((b.start.astimezone(UTC), b.end.astimezone(UTC)))
    for exc in exceptions:
        if not exc.available and exc.start is not None and exc.end is not None:
            taken.append(
                (
                    local_instant(exc.day, exc.start, zone, prefer="earlier"),
                    local_instant(exc.day, exc.end, zone, prefer="later"),
                )
            )
    # Merged intervals are sorted by start and by end, so one bisect on the ends finds the
    # only interval that can overlap a candidate.
    merged = _merge(taken)
    taken_starts = [s for s, _ in merged]
    taken_ends = [e for _, e in merged]

    need = duration + buffer
    slots: list[tuple[datetime, datetime]] = []
    day = range_start.astimezone(zone).date()
    last_day = range_end.astimezone(zone).date()
    one_day = timedelta(days=1)
    while day <= last_day:
        for block_start, block_end in _day_blocks(day, zone, hours_by_weekday, exceptions_by_day.get(day, [])):
            limit = min(block_end, range_end)
            k = _ceil_steps(earliest - block_start, step)
            while True:
                start = block_start + k * step
                if start + duration > limit:
                    break
                i = bisect_right(taken_ends, start)
                if i < len(taken_starts) and taken_starts[i] < start + need:
                    # Jump straight past the conflicting interval.
                    k = max(k + 1, _ceil_steps(taken_ends[i] - block_start, step))
                    continue
                slots.append((start, start + duration))
                k += 1
        day += one_day
    # Blocks of one day are disjoint and days do not overlap; sort only guards exotic zones.
    slots.sort()
    return slots


def hours_conflict(
    *,
    tz: str,
    hours: Sequence[WorkingHours],
    exceptions: Sequence[DateException],
    start: datetime,
    end: datetime,
    blocked_until: datetime | None = None,
) -> Literal["outside", "blocked"] | None:
    """Why a visit does not fit the provider's hours, or None when it does.

    By the same rules as `open_slots`: the visit ``[start, end)`` must lie inside one working
    block of its local day (that day's exceptions applied), and ``[start, blocked_until)`` (the
    visit and its buffer, which may run past closing time) must miss every blocked range.
    "outside": not inside working time; "blocked": inside it, but over a blocked range.
    """
    _require_aware("start", start)
    _require_aware("end", end)
    until = blocked_until if blocked_until is not None else end
    _require_aware("blocked_until", until)
    zone = ZoneInfo(tz)
    start, end, until = start.astimezone(UTC), end.astimezone(UTC), until.astimezone(UTC)
    day = start.astimezone(zone).date()
    hours_by_weekday: dict[int, list[tuple[time, time]]] = defaultdict(list)
    for wh in hours:
        hours_by_weekday[wh.weekday].append((wh.start, wh.end))
    blocks = _day_blocks(day, zone, hours_by_weekday, [e for e in exceptions if e.day == day])
    if not any(block_start <= start and end <= block_end for block_start, block_end in blocks):
        return "outside"
    for exc in exceptions:
        if not exc.available and exc.start is not None and exc.end is not None:
            blocked_start = local_instant(exc.day, exc.start, zone, prefer="earlier")
            blocked_end = local_instant(exc.day, exc.end, zone, prefer="later")
            if blocked_start < until and start < blocked_end:
                return "blocked"
    return None
