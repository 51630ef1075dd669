"""When appointment reminders go out: pure logic, no database.

Decisions (each has tests in tests/reminders/test_planning.py):

* Nominal time: ``due = appointment_start - offset``.
* Quiet hours are local to the patient (``[start, end)``, wrapping midnight when start > end;
  ``start == end`` means no quiet hours). A due time inside quiet hours moves to the *nearest*
  allowed moment, measured from the due time, choosing between

  - the last allowed minute before that quiet period began (``start - 1 min``, 20:59), and
  - the moment it ends (``end``, 08:00), only if that is no later than the reminder's deadline
    ``appointment_start - min(SEND_MARGIN, offset)``;

  a tie goes to the earlier moment (more time for the patient to answer). A moment already in
  the past is never chosen.
* Late bookings: a reminder whose due time passed more than ``LATE_GRACE`` ago is skipped with
  reason "booked too late" (the booking confirmation covers it); one that passed less than that
  ago is sent now, subject to quiet hours. Booked 30 h before the visit: 48h skipped, 24h planned.
* Reminders never bunch up: after adjustment, each reminder must go out at least
  ``min(MIN_GAP, nominal gap)`` before the next shorter-offset one; otherwise the earlier kind
  (longer offset) is skipped with a reason naming the one it collided with.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from converge.scheduling.slots import local_instant

__all__ = [
    "LATE_GRACE",
    "MIN_GAP",
    "SEND_MARGIN",
    "SKIP_ALREADY_STARTED",
    "SKIP_NO_ALLOWED_TIME",
    "SKIP_TOO_LATE",
    "PlannedReminder",
    "QuietHours",
    "adjust_for_quiet_hours",
    "in_quiet_hours",
    "plan_reminders",
]

SEND_MARGIN = timedelta(hours=1)
LATE_GRACE = timedelta(hours=1)
MIN_GAP = timedelta(hours=1)
_LAST_MINUTE = timedelta(minutes=1)

SKIP_ALREADY_STARTED = "appointment already started"
SKIP_TOO_LATE = "booked too late"
SKIP_NO_ALLOWED_TIME = "no time outside quiet hours before the appointment"


@dataclass(frozen=True)
class QuietHours:
    """No sending from ``start`` (inclusive) to ``end`` (exclusive), patient's local time."""

    start: time = time(21, 0)
    end: time = time(8, 0)


@dataclass(frozen=True)
class PlannedReminder:
    kind: str
    due_at: datetime | None
    skipped_reason: str = ""


def _require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")


def _is_quiet_wall(wall: time, quiet: QuietHours) -> bool:
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= wall < quiet.end
    return wall >= quiet.start or wall < quiet.end


def in_quiet_hours(moment: datetime, *, tz: str, quiet: QuietHours) -> bool:
    """Whether the patient's local clock shows a quiet time at ``moment``."""
    _require_aware("moment", moment)
    wall = moment.astimezone(ZoneInfo(tz)).time().replace(tzinfo=None)
    return _is_quiet_wall(wall, quiet)


def _quiet_period(moment: datetime, zone: tzinfo, quiet: QuietHours) -> tuple[datetime, datetime]:
    """UTC bounds of the quiet period containing ``moment`` (which must be quiet)."""
    local = moment.astimezone(zone)
    start_day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) < quiet.end:
        start_day -= timedelta(days=1)
    end_day = start_day + timedelta(days=1) if quiet.start > quiet.end else start_day
    return (
        local_instant(start_day, quiet.start, zone, prefer="earlier"),
        local_instant(end_day, quiet.end, zone, prefer="later"),
    )


def adjust_for_quiet_hours(
    due: datetime, *, deadline: datetime, tz: str, quiet: QuietHours, now: datetime
) -> datetime | None:
    """The allowed sending moment nearest to ``due`` within ``[now, deadline]``, aware UTC.

    ``due`` earlier than ``now`` counts as ``now`` (the caller has already decided it still
    wants to send). ``None`` when no moment outside quiet hours exists in that window.
    """
    for name, value in (("due", due), ("deadline", deadline), ("now", now)):
        _require_aware(name, value)
    zone = ZoneInfo(tz)
    now = now.astimezone(UTC)
    deadline = deadline.astimezone(UTC)
    wanted = max(due.astimezone(UTC), now)
    if wanted > deadline:
        return None
    if not in_quiet_hours(wanted, tz=tz, quiet=quiet):
        return wanted

    quiet_start, quiet_end = _quiet_period(wanted, zone, quiet)
    candidates: list[datetime] = []
    before = quiet_start - _LAST_MINUTE
    if before < now and now < quiet_start:
        # Inside the last allowed minute already: now is as late as "before" can be.
        before = now
    if before >= now and not in_quiet_hours(before, tz=tz, quiet=quiet):
        candidates.append(before)
    if quiet_end <= deadline and not in_quiet_hours(quiet_end, tz=tz, quiet=quiet):
        candidates.append(quiet_end)
    if not candidates:
        return None
    # min() keeps the first of equals: the earlier candidate wins a tie.
    return min(candidates, key=lambda c: abs(c - wanted))


def plan_reminders(
    *,
    appointment_start: datetime,
    offsets: Mapping[str, timedelta],
    patient_tz: str,
    quiet: QuietHours,
    now: datetime,
) -> list[PlannedReminder]:
    """One ``PlannedReminder`` per offset, earliest kind (longest offset) first."""
    _require_aware("appointment_start", appointment_start)
    _require_aware("now", now)
    for kind, offset in offsets.items():
        if offset <= timedelta(0):
            raise ValueError(f"reminder offset {kind!r} must be positive")
    ZoneInfo(patient_tz)  # fail early on an unknown zone
    start = appointment_start.astimezone(UTC)
    now = now.astimezone(UTC)
    ordered = sorted(offsets.items(), key=lambda item: (-item[1], item[0]))

    if start <= now:
        return [PlannedReminder(kind, None, SKIP_ALREADY_STARTED) for kind, _ in ordered]

    planned: list[PlannedReminder] = []
    for kind, offset in ordered:
        due = start - offset
        deadline = start - min(SEND_MARGIN, offset)
        if due < now - LATE_GRACE or max(due, now) > deadline:
            planned.append(PlannedReminder(kind, None, SKIP_TOO_LATE))
            continue
        adjusted = adjust_for_quiet_hours(due, deadline=deadline, tz=patient_tz, quiet=quiet, now=now)
        if adjusted is None:
            planned.append(PlannedReminder(kind, None, SKIP_NO_ALLOWED_TIME))
        else:
            planned.append(PlannedReminder(kind, adjusted, ""))

    # Walk from the reminder nearest the visit backwards; the later one always wins.
    result = list(planned)
    later: tuple[int, datetime] | None = None
    for i in range(len(ordered) - 1, -1, -1):
        reminder = result[i]
        if reminder.due_at is None:
            continue
        if later is not None:
            j, later_due = later
            gap = min(MIN_GAP, ordered[i][1] - ordered[j][1])
            if reminder.due_at >= later_due or later_due - reminder.due_at < gap:
                result[i] = PlannedReminder(reminder.kind, None, f"too close to the {ordered[j][0]} reminder")
                continue
        later = (i, reminder.due_at)
    return result
