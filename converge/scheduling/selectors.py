"""Reads for scheduling: availability and appointment lists, scoped to a practice."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from converge.core import clock
from converge.patients.models import Patient
from converge.scheduling import slots
from converge.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentType,
    Provider,
    ScheduleException,
    WorkingHours,
)


def provider_time_zone(provider: Provider) -> str:
    if provider.location is not None and provider.location.time_zone:
        return provider.location.time_zone
    return provider.practice.time_zone


def _hhmm(value: time) -> str:
    return f"{value:%H:%M}"


def _day_text(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"


def working_hours_problem(*, provider: Provider, start: datetime, end: datetime, blocked_until: datetime) -> str | None:
    """Why a visit of this provider at this time falls outside their working hours, as a sentence
    naming the provider and that day's hours (local time), or None when it fits them."""
    zone = ZoneInfo(provider_time_zone(provider))
    local = start.astimezone(zone)
    day = local.date()
    rows = list(WorkingHours.objects.filter(practice_id=provider.practice_id, provider=provider))
    changes = list(
        ScheduleException.objects.filter(
            practice_id=provider.practice_id,
            provider=provider,
            day__gte=day - timedelta(days=1),
            day__lte=blocked_until.astimezone(zone).date(),
        ).order_by("day", "start")
    )
    problem = slots.hours_conflict(
        tz=str(zone),
        hours=[slots.WorkingHours(r.weekday, r.start, r.end) for r in rows],
        exceptions=[slots.DateException(c.day, c.start, c.end, c.available) for c in changes],
        start=start,
        end=end,
        blocked_until=blocked_until,
    )
    if problem is None:
        return None
    today = [c for c in changes if c.day == day]
    if problem == "blocked":
        hits = [
            c
            for c in changes
            if not c.available
            and c.start is not None
            and c.end is not None
            and slots.local_instant(c.day, c.start, zone) < blocked_until
            and start < slots.local_instant(c.day, c.end, zone, prefer="later")
        ]
        why = "; ".join(
            f"blocked {_day_text(c.day)} {_hhmm(c.start)}–{_hhmm(c.end)}" + (f": {c.note}" if c.note else "")
            for c in hits
            if c.start is not None and c.end is not None
        )
    elif day_off := next((c for c in today if not c.available and c.start is None), None):
        why = f"day off on {_day_text(day)}" + (f": {day_off.note}" if day_off.note else "")
    elif special := [c for c in today if c.available and c.start is not None and c.end is not None]:
        why = f"special hours {_day_text(day)} " + ", ".join(
            f"{_hhmm(c.start)}–{_hhmm(c.end)}" for c in special if c.start is not None and c.end is not None
        )
    else:
        weekday = sorted((r.start, r.end) for r in rows if r.weekday == day.weekday())
        if weekday:
            why = f"{day:%a} " + ", ".join(f"{_hhmm(s)}–{_hhmm(e)}" for s, e in weekday)
        else:
            why = f"not working {day:%a}"
    when = f"{_day_text(day)} {local:%H:%M}"
    return f"{when} is outside {provider.display_name}'s working hours ({why})"


def availability(
    *,
    practice_id: int,
    appointment_type: AppointmentType,
    start: datetime,
    end: datetime,
    providers: list[Provider] | None = None,
    min_notice: timedelta = timedelta(hours=2),
    limit: int = 500,
) -> list[tuple[Provider, datetime, datetime]]:
    """Open slots for the type across the given (or all) providers, earliest first."""
    if end <= start:
        raise ValueError("end must be after start")
    if end - start > timedelta(days=62):
        raise ValueError("date range is limited to 62 days")
    if providers is None:
        providers = list(Provider.objects.filter(practice_id=practice_id).select_related("location", "practice"))
    provider_ids = [p.pk for p in providers]
    hours = defaultdict(list)
    for row in WorkingHours.objects.filter(practice_id=practice_id, provider_id__in=provider_ids):
        hours[row.provider_id].append(slots.WorkingHours(row.weekday, row.start, row.end))
    exceptions = defaultdict(list)
    for ex in ScheduleException.objects.filter(
        practice_id=practice_id,
        provider_id__in=provider_ids,
        day__gte=(start - timedelta(days=1)).date(),
        day__lte=end.date(),
    ):
        exceptions[ex.provider_id].append(slots.DateException(ex.day, ex.start, ex.end, ex.available))
    busy = defaultdict(list)
    for provider_id, b_start, b_end in Appointment.objects.filter(
        practice_id=practice_id,
        provider_id__in=provider_ids,
        status__in=ACTIVE_STATUSES,
        start__lt=end + timedelta(days=1),
        blocked_until__gt=start - timedelta(days=1),
    ).values_list("provider_id", "start", "blocked_until"):
        busy[provider_id].append(slots.Busy(b_start, b_end))
    found: list[tuple[Provider, datetime, datetime]] = []
    for provider in providers:
        for slot_start, slot_end in slots.open_slots(
            tz=provider_time_zone(provider),
            hours=hours[provider.pk],
            exceptions=exceptions[provider.pk],
            busy=busy[provider.pk],
            duration=timedelta(minutes=appointment_type.duration_minutes),
            buffer=timedelta(minutes=appointment_type.buffer_minutes),
            range_start=start,
            range_end=end,
            now=clock.now(),
            min_notice=min_notice,
        ):
            found.append((provider, slot_start, slot_end))
    found.sort(key=lambda item: (item[1], item[0].pk))
    return found[:limit]


def appointments_between(
    *, practice_id: int, start: datetime, end: datetime, provider_id: int | None = None
) -> list[Appointment]:
    qs = Appointment.objects.filter(practice_id=practice_id, start__lt=end, end__gt=start)
    if provider_id is not None:
        qs = qs.filter(provider_id=provider_id)
    return list(qs.select_related("patient", "provider", "appointment_type", "location").order_by("start"))


def providers_of(practice_id: int) -> list[Provider]:
    return list(
        Provider.objects.filter(practice_id=practice_id).select_related("location", "practice").order_by("display_name")
    )


def provider_of(practice_id: int, provider_id: int | None) -> Provider | None:
    """The practice's provider with this id; None for no id or another practice's."""
    if not provider_id:
        return None
    return Provider.objects.filter(practice_id=practice_id, pk=provider_id).first()


def appointment_types_of(practice_id: int) -> list[AppointmentType]:
    return list(AppointmentType.objects.filter(practice_id=practice_id).order_by("name"))


def appointment_type_of(practice_id: int, type_id: int | None) -> AppointmentType | None:
    if not type_id:
        return None
    return AppointmentType.objects.filter(practice_id=practice_id, pk=type_id).first()


def appointment_of(practice_id: int, appointment_id: int | None) -> Appointment | None:
    """One visit of the practice with what the calendar's panel shows of it."""
    if not appointment_id:
        return None
    return (
        Appointment.objects.select_related("patient", "provider", "appointment_type", "location")
        .filter(practice_id=practice_id, pk=appointment_id)
        .first()
    )


def bookable_patient(practice_id: int, patient_id: int | None) -> Patient | None:
    """A patient of the practice that can be booked or waitlisted (not merged into another)."""
    if not patient_id:
        return None
    return Patient.objects.filter(practice_id=practice_id, pk=patient_id, merged_into__isnull=True).first()


def schedules_of(
    practice_id: int, provider_ids: list[int], first_day: date, last_day: date
) -> tuple[list[WorkingHours], list[ScheduleException]]:
    """The providers' weekly working hours and their day changes between the two days."""
    hours = list(WorkingHours.objects.filter(practice_id=practice_id, provider_id__in=provider_ids))
    changes = list(
        ScheduleException.objects.filter(
            practice_id=practice_id, provider_id__in=provider_ids, day__gte=first_day, day__lte=last_day
        )
    )
    return hours, changes
