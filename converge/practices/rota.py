"""The on-call rota: who is on call when, in the practice's time zone (Settings → On-call).

A weekly shift covers its weekdays from start to end time; an end at or before the start runs
into the next day (18:00–08:00 on Friday ends Saturday 08:00), and 00:00–00:00 is the whole day.
A dated shift runs once, from its start date and time to its end date and time. Urgent
escalation (converge.routing.oncall) pages whoever is on shift now before the ordered list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import transaction

from converge.audit.services import audit_record
from converge.core import clock
from converge.practices.models import OnCallShift, Practice, StaffMember
from converge.practices.permissions import Perm, can

MAX_SHIFTS = 200
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MIDNIGHT = time(0, 0)


class RotaError(ValueError):
    """The shift cannot be saved; the message names the field."""


class RotaNotAllowed(PermissionDenied):
    def __init__(self) -> None:
        super().__init__("Only practice managers and administrators change the on-call rota.")


@dataclass(frozen=True)
class ShiftSpan:
    start: datetime
    end: datetime


def _local_spans(shift: OnCallShift, tz: ZoneInfo, around: date) -> list[ShiftSpan]:
    """The shift's local spans that may cover a moment on `around` (yesterday's overnight too)."""
    if shift.weekdays:
        spans = []
        for day in (around - timedelta(days=1), around):
            if day.weekday() not in shift.weekdays:
                continue
            start = datetime.combine(day, shift.start_time, tzinfo=tz)
            end_day = day if shift.end_time > shift.start_time else day + timedelta(days=1)
            spans.append(ShiftSpan(start, datetime.combine(end_day, shift.end_time, tzinfo=tz)))
        return spans
    if shift.start_date is None or shift.end_date is None:
        return []
    return [
        ShiftSpan(
            datetime.combine(shift.start_date, shift.start_time, tzinfo=tz),
            datetime.combine(shift.end_date, shift.end_time, tzinfo=tz),
        )
    ]


def covers(shift: OnCallShift, when: datetime, tz: ZoneInfo) -> bool:
    local = when.astimezone(tz)
    return any(span.start <= local < span.end for span in _local_spans(shift, tz, local.date()))


def on_shift(practice_id: int, when: datetime | None = None) -> list[StaffMember]:
    """Active staff on call at `when` (now by default), in the order their shifts were added."""
    when = when or clock.now()
    practice = Practice.objects.only("time_zone").get(pk=practice_id)
    tz = ZoneInfo(practice.time_zone)
    today = when.astimezone(tz).date()
    shifts = (
        OnCallShift.objects.filter(practice_id=practice_id, staff__is_active=True)
        .exclude(end_date__lt=today - timedelta(days=1))
        .select_related("staff")
        .order_by("pk")
    )
    found: list[StaffMember] = []
    for shift in shifts:
        if shift.staff not in found and covers(shift, when, tz):
            found.append(shift.staff)
    return found


def shifts_of(practice_id: int) -> list[OnCallShift]:
    today = clock.now().astimezone(ZoneInfo(Practice.objects.get(pk=practice_id).time_zone)).date()
    return list(
        OnCallShift.objects.filter(practice_id=practice_id)
        .exclude(end_date__lt=today)
        .select_related("staff")
        .order_by("start_date", "pk")
    )


def describe(shift: OnCallShift) -> str:
    times = (
        "all day"
        if shift.start_time == shift.end_time == MIDNIGHT
        else f"{shift.start_time:%H:%M}–{shift.end_time:%H:%M}"
    )
    if shift.weekdays:
        overnight = " (into the next day)" if MIDNIGHT < shift.end_time <= shift.start_time else ""
        return f"Every {', '.join(WEEKDAY_NAMES[d] for d in sorted(shift.weekdays))}, {times}{overnight}"
    return f"{shift.start_date:%d %b %Y} {shift.start_time:%H:%M} to {shift.end_date:%d %b %Y} {shift.end_time:%H:%M}"


def _parse_time(name: str, raw: str) -> time:
    try:
        return time.fromisoformat(raw.strip()) if raw.strip() else MIDNIGHT
    except ValueError:
        raise RotaError(f"{name}: enter a time as HH:MM") from None


def _parse_date(name: str, raw: str) -> date:
    try:
        value = date.fromisoformat(raw.strip())
    except ValueError:
        raise RotaError(f"{name}: enter a date as YYYY-MM-DD") from None
    if not 2000 <= value.year <= 2999:
        raise RotaError(f"{name}: choose a date between the years 2000 and 2999")
    return value


def shift_add(
    *,
    actor: StaffMember,
    staff_id: int,
    weekdays: list[str] | None = None,
    start_date: str = "",
    end_date: str = "",
    start_time: str = "",
    end_time: str = "",
) -> OnCallShift:
    """A weekly shift (weekdays given) or a dated one (start_date and end_date). Raises
    RotaNotAllowed or RotaError."""
    if not can(actor, Perm.MANAGE_SETTINGS):
        raise RotaNotAllowed
    member = StaffMember.objects.filter(practice_id=actor.practice_id, pk=staff_id, is_active=True).first()
    if member is None:
        raise RotaError("staff: choose an active staff member of the practice")
    starts, ends = _parse_time("start_time", start_time), _parse_time("end_time", end_time)
    shift = OnCallShift(practice_id=actor.practice_id, staff=member, start_time=starts, end_time=ends)
    if weekdays:
        try:
            days = sorted({int(d) for d in weekdays})
        except (TypeError, ValueError):
            raise RotaError("weekdays: choose days of the week") from None
        if not all(0 <= d <= 6 for d in days):
            raise RotaError("weekdays: choose days of the week")
        if start_date or end_date:
            raise RotaError("weekdays: a shift is either weekly or between two dates, not both")
        shift.weekdays = days
    else:
        if not start_date or not end_date:
            raise RotaError("start_date: choose weekdays, or a start and an end date")
        shift.start_date, shift.end_date = _parse_date("start_date", start_date), _parse_date("end_date", end_date)
        if (shift.end_date, ends) <= (shift.start_date, starts):
            raise RotaError("end_date: the shift must end after it starts")
        if (shift.end_date - shift.start_date).days > 366:
            raise RotaError("end_date: a dated shift is at most a year long")
    if not member.phone.strip():
        raise RotaError(f"staff: {member.display_name} has no mobile number on their profile to be paged at")
    with transaction.atomic():
        if OnCallShift.objects.filter(practice_id=actor.practice_id).count() >= MAX_SHIFTS:
            raise RotaError(f"staff: the rota holds at most {MAX_SHIFTS} shifts; remove old ones first")
        shift.save()
        audit_record(
            practice_id=actor.practice_id,
            actor=actor,
            action="oncall.shift_add",
            obj=shift,
            detail={"staff": member.pk, "weekly": bool(shift.weekdays)},
        )
    return shift


def shift_remove(*, actor: StaffMember, shift_id: int) -> bool:
    if not can(actor, Perm.MANAGE_SETTINGS):
        raise RotaNotAllowed
    with transaction.atomic():
        shift = OnCallShift.objects.filter(practice_id=actor.practice_id, pk=shift_id).first()
        if shift is None:
            return False
        audit_record(
            practice_id=actor.practice_id,
            actor=actor,
            action="oncall.shift_remove",
            obj=shift,
            detail={"staff": shift.staff_id},
        )
        shift.delete()
    return True
