"""Scheduling endpoints: availability, appointments, their reminders, the waitlist, figures."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from django.http import Http404, HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from converge.api.auth import principal_of
from converge.api.schemas import (
    AppointmentStatusValue,
    ClockTime,
    Day,
    Error,
    Id,
    Input,
    Text,
    Time,
    answers,
    time_in_range,
)
from converge.conversations.figures import inbox_figures
from converge.conversations.services import ServiceError
from converge.patients.models import Patient
from converge.practices.models import Location, Practice
from converge.practices.permissions import Perm, can
from converge.reminders.figures import weekly_figures
from converge.reminders.models import Reminder
from converge.reminders.waitlist import waitlist_add
from converge.scheduling.models import Appointment, AppointmentType, Provider
from converge.scheduling.selectors import appointments_between, availability
from converge.scheduling.services import (
    OVERRIDE_REASON_MAX,
    BookingError,
    OutsideHoursError,
    appointment_book,
    appointment_move,
    appointment_set_status,
)

router = Router(tags=["scheduling"])

MAX_SPAN_DAYS = 62


class SlotOut(Schema):
    provider_id: int
    provider_name: str
    start: datetime
    end: datetime


class AppointmentIn(Input):
    patient_id: Id
    provider_id: Id
    appointment_type_id: Id
    start: Time
    location_id: Id | None = None
    # Book outside the provider's working hours: only with a reason, which the audit log keeps.
    override_hours: bool = False
    override_reason: Text = Field("", max_length=OVERRIDE_REASON_MAX)


class AppointmentPatch(Input):
    status: AppointmentStatusValue | None = None
    start: Time | None = None
    provider_id: Id | None = None
    override_hours: bool = False
    override_reason: Text = Field("", max_length=OVERRIDE_REASON_MAX)


class AppointmentOut(Schema):
    id: int
    patient_id: int
    provider_id: int
    appointment_type_id: int | None
    location_id: int | None
    start: datetime
    end: datetime
    status: str
    source: str
    external_id: str


class ReminderOut(Schema):
    kind: str
    due_at: datetime | None
    status: str
    channel: str
    queued_at: datetime | None
    skipped_reason: str
    message_id: int | None
    delivery_status: str | None


class WaitlistIn(Input):
    patient_id: Id
    provider_id: Id | None = None
    appointment_type_id: Id | None = None
    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(default_factory=list, max_length=7)
    earliest_time: ClockTime | None = None
    latest_time: ClockTime | None = None
    earliest_date: Day | None = None


class WaitlistOut(Schema):
    id: int
    patient_id: int
    status: str


def _get(model, principal, pk, label):  # type: ignore[no-untyped-def]
    if pk is None:
        return None
    obj = model.objects.filter(practice_id=principal.practice_id, pk=pk).first()
    if obj is None:
        raise ServiceError(f"{label}: not found")
    return obj


def _appointment(principal, appointment_id: int) -> Appointment:  # type: ignore[no-untyped-def]
    appointment = Appointment.objects.filter(practice_id=principal.practice_id, pk=appointment_id).first()
    if appointment is None:
        raise Http404("appointment not found")
    return appointment


def _out(a: Appointment) -> AppointmentOut:
    return AppointmentOut(
        id=a.pk,
        patient_id=a.patient_id,
        provider_id=a.provider_id,
        appointment_type_id=a.appointment_type_id,
        location_id=a.location_id,
        start=a.start,
        end=a.end,
        status=a.status,
        source=a.source,
        external_id=a.external_id,
    )


def _refused(exc: BookingError, verb: str) -> Status:
    """409 for a time that is taken or outside working hours (saying how to override the hours),
    400 for a request that is wrong in itself."""
    if isinstance(exc, OutsideHoursError):
        return Status(409, Error(detail=f"{exc}; send override_hours=true with override_reason to {verb} anyway"))
    return Status(409 if "available" in str(exc) else 400, Error(detail=str(exc)))


def _span(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    time_in_range("start", start)
    time_in_range("end", end)
    if end <= start or (end - start).days > MAX_SPAN_DAYS:
        raise ServiceError(f"end: must be after start and within {MAX_SPAN_DAYS} days")
    return start, end


@router.get("/availability", response=answers({200: list[SlotOut]}, 400))
def get_availability(
    request: HttpRequest,
    appointment_type_id: Id,
    start: Time,
    end: Time,
    provider_id: Id | None = None,
    limit: int = Query(100, ge=1, le=500),  # type: ignore[type-arg]
):  # type: ignore[no-untyped-def]
    """Free slots between `start` and `end` (after `start`, at most 62 days later; a 400 otherwise)."""
    principal = principal_of(request)
    kind = _get(AppointmentType, principal, appointment_type_id, "appointment_type_id")
    provider = _get(Provider, principal, provider_id, "provider_id")
    start, end = _span(start, end)
    try:
        found = availability(
            practice_id=principal.practice_id,
            appointment_type=kind,
            start=start,
            end=end,
            providers=[provider] if provider else None,
            limit=limit,
        )
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    return [SlotOut(provider_id=p.pk, provider_name=p.display_name, start=s, end=e) for p, s, e in found]


@router.get("/appointments", response=answers({200: list[AppointmentOut]}, 400))
def list_appointments(request: HttpRequest, start: Time, end: Time, provider_id: Id | None = None):  # type: ignore[no-untyped-def]
    """Appointments starting between `start` and `end` (after `start`, at most 62 days later; a
    400 otherwise)."""
    principal = principal_of(request)
    start, end = _span(start, end)
    rows = appointments_between(practice_id=principal.practice_id, start=start, end=end, provider_id=provider_id)
    return [_out(a) for a in rows]


@router.post("/appointments", response=answers({201: AppointmentOut}, 400, 409))
def create_appointment(request: HttpRequest, payload: AppointmentIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    patient = _get(Patient, principal, payload.patient_id, "patient_id")
    provider = _get(Provider, principal, payload.provider_id, "provider_id")
    kind = _get(AppointmentType, principal, payload.appointment_type_id, "appointment_type_id")
    location = _get(Location, principal, payload.location_id, "location_id")
    try:
        appointment = appointment_book(
            patient=patient,
            provider=provider,
            start=time_in_range("start", payload.start),
            appointment_type=kind,
            location=location,
            actor=principal.actor,
            source="api",
            override_hours=payload.override_hours,
            override_reason=payload.override_reason,
        )
    except BookingError as exc:
        return _refused(exc, "book")
    return Status(201, _out(appointment))


@router.get("/appointments/{appointment_id}", response=answers({200: AppointmentOut}, 404))
def get_appointment(request: HttpRequest, appointment_id: Id):  # type: ignore[no-untyped-def]
    return _out(_appointment(principal_of(request), appointment_id))


@router.patch("/appointments/{appointment_id}", response=answers({200: AppointmentOut}, 400, 404, 409))
def update_appointment(request: HttpRequest, appointment_id: Id, payload: AppointmentPatch):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    appointment = _appointment(principal, appointment_id)
    provider = _get(Provider, principal, payload.provider_id, "provider_id")
    try:
        if payload.start is not None or provider is not None:
            appointment = appointment_move(
                appointment=appointment,
                start=time_in_range("start", payload.start) if payload.start else appointment.start,
                provider=provider,
                actor=principal.actor,
                override_hours=payload.override_hours,
                override_reason=payload.override_reason,
            )
        if payload.status is not None:
            appointment = appointment_set_status(appointment=appointment, status=payload.status, actor=principal.actor)
    except BookingError as exc:
        return _refused(exc, "move")
    return _out(appointment)


@router.get("/appointments/{appointment_id}/reminders", response=answers({200: list[ReminderOut]}, 404))
def appointment_reminders(request: HttpRequest, appointment_id: Id):  # type: ignore[no-untyped-def]
    appointment = _appointment(principal_of(request), appointment_id)
    rows = Reminder.objects.filter(appointment=appointment).select_related("message").order_by("due_at", "kind")
    return [
        ReminderOut(
            kind=r.kind,
            due_at=r.due_at,
            status=r.status,
            channel=r.channel_kind,
            queued_at=r.queued_at,
            skipped_reason=r.skipped_reason,
            message_id=r.message_id,
            delivery_status=r.message.status if r.message else None,
        )
        for r in rows
    ]


@router.post("/waitlist", response=answers({201: WaitlistOut}, 400))
def add_to_waitlist(request: HttpRequest, payload: WaitlistIn):  # type: ignore[no-untyped-def]
    principal = principal_of(request)
    patient = _get(Patient, principal, payload.patient_id, "patient_id")
    try:
        entry = waitlist_add(
            patient=patient,
            actor=principal.actor,
            provider=_get(Provider, principal, payload.provider_id, "provider_id"),
            appointment_type=_get(AppointmentType, principal, payload.appointment_type_id, "appointment_type_id"),
            weekdays=payload.weekdays,
            earliest_time=payload.earliest_time,
            latest_time=payload.latest_time,
            earliest_date=payload.earliest_date,
        )
    except ValueError as exc:
        raise ServiceError(str(exc)) from None
    return Status(201, WaitlistOut(id=entry.pk, patient_id=entry.patient_id, status=entry.status))


@router.get("/figures/appointments", response=answers({200: list[dict]}, 403))
def appointment_figures(request: HttpRequest, weeks: int = Query(8, ge=1, le=52)):  # type: ignore[no-untyped-def,type-arg]
    principal = principal_of(request)
    if principal.staff is not None and not can(principal.staff, Perm.VIEW_FIGURES):
        return Status(403, Error(detail="only practice managers and administrators can see figures"))
    practice = Practice.objects.get(pk=principal.practice_id)
    return [w.as_dict() for w in weekly_figures(practice=practice, weeks=weeks)]


@router.get("/figures/inbox", response=answers({200: list[dict]}, 403))
def inbox_figures_get(request: HttpRequest, weeks: int = Query(8, ge=1, le=52)):  # type: ignore[no-untyped-def,type-arg]
    """Median first-response time and open conversations by team, by week."""
    principal = principal_of(request)
    if principal.staff is not None and not can(principal.staff, Perm.VIEW_FIGURES):
        return Status(403, Error(detail="only practice managers and administrators can see figures"))
    practice = Practice.objects.get(pk=principal.practice_id)
    return [w.as_dict() for w in inbox_figures(practice=practice, weeks=weeks)]
