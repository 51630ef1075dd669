"""Reads for scheduling: availability and appointment lists, scoped to a practice."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from converge.core import clock
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


def appointments_for_patient(*, practice_id: int, patient_id: int) -> tuple[list[Appointment], list[Appointment]]:
    now = clock.now()
    qs = Appointment.objects.filter(practice_id=practice_id, patient_id=patient_id).select_related(
        "provider", "location", "appointment_type"
    )
    upcoming = list(qs.filter(start__gte=now).order_by("start")[:10])
    past = list(qs.filter(start__lt=now).order_by("-start")[:10])
    return upcoming, past


def appointments_between(
    *, practice_id: int, start: datetime, end: datetime, provider_id: int | None = None
) -> list[Appointment]:
    qs = Appointment.objects.filter(practice_id=practice_id, start__lt=end, end__gt=start)
    if provider_id is not None:
        qs = qs.filter(provider_id=provider_id)
    return list(qs.select_related("patient", "provider", "appointment_type", "location").order_by("start"))


def local_day_bounds(day: datetime, tz: str) -> tuple[datetime, datetime]:
    zone = ZoneInfo(tz)
    local = datetime(day.year, day.month, day.day, tzinfo=zone)
    return local, local + timedelta(days=1)
