"""Booking, moving and changing appointments. Double booking is refused by the database (an
exclusion constraint on PostgreSQL, a trigger on SQLite), so it holds under concurrent bookings."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.core import clock, events
from converge.patients.models import Patient
from converge.practices.models import Location
from converge.scheduling import hooks
from converge.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentStatus,
    AppointmentType,
    Provider,
)
from converge.scheduling.selectors import working_hours_problem


class BookingError(ValueError):
    """A booking that cannot be made; the message is shown to staff, API callers or patients."""


class OutsideHoursError(BookingError):
    """The time is outside the provider's working hours (or over a blocked range). Staff may book
    it anyway, but only explicitly: ``override_hours=True`` with a reason, which is audited."""


OVERRIDE_REASON_MAX = 200


def _hours_override(
    *,
    provider: Provider,
    start: datetime,
    end: datetime,
    blocked_until: datetime,
    override_hours: bool,
    override_reason: str,
) -> dict[str, Any]:
    """Refuses a time outside the provider's hours unless overridden with a reason; returns what
    the audit row records about it (nothing when the time fits the hours)."""
    reason = override_reason.strip()[:OVERRIDE_REASON_MAX]
    if override_hours and not reason:
        raise BookingError("override_reason: give a reason to book outside working hours")
    problem = working_hours_problem(provider=provider, start=start, end=end, blocked_until=blocked_until)
    if problem is None:
        return {}
    if not override_hours:
        raise OutsideHoursError(problem)
    return {"override_hours": True, "override_reason": reason}


ALLOWED_TRANSITIONS: dict[str, set[str]] = {
    AppointmentStatus.BOOKED: {"confirmed", "cancelled", "rescheduled", "no_show", "checked_in", "completed"},
    AppointmentStatus.CONFIRMED: {"booked", "cancelled", "rescheduled", "no_show", "checked_in", "completed"},
    AppointmentStatus.CHECKED_IN: {"completed", "no_show"},
    AppointmentStatus.NO_SHOW: {"checked_in", "completed"},
    AppointmentStatus.CANCELLED: set(),
    AppointmentStatus.RESCHEDULED: set(),
    AppointmentStatus.COMPLETED: set(),
}


def _same_practice(practice_id: int, *objects: Any) -> None:
    for obj in objects:
        if obj is not None and obj.practice_id != practice_id:
            raise BookingError("not found")


def _insert_guarded(appointment: Appointment) -> None:
    try:
        with transaction.atomic():
            appointment.save()
    except IntegrityError as exc:
        text = str(exc).lower()
        if "overlap" in text or "appointment_no_overlap" in text or "exclusion" in text or "conflicting key" in text:
            raise BookingError("that time is no longer available") from None
        raise


def appointment_book(
    *,
    patient: Patient,
    provider: Provider,
    start: datetime,
    appointment_type: AppointmentType | None = None,
    location: Location | None = None,
    duration: timedelta | None = None,
    actor: Any = None,
    source: str = "",
    external_id: str = "",
    status: str = AppointmentStatus.BOOKED,
    override_hours: bool = False,
    override_reason: str = "",
    check_hours: bool = True,
) -> Appointment:
    """Book a visit. A time outside the provider's working hours is refused (`OutsideHoursError`)
    unless `override_hours` is given with an `override_reason`. `check_hours=False` is only for
    visits another system already holds (imports): they happened there, whatever our hours say."""
    if start.tzinfo is None:
        raise BookingError("start: needs a time zone")
    _same_practice(patient.practice_id, provider, appointment_type, location)
    minutes = duration or timedelta(minutes=appointment_type.duration_minutes if appointment_type else 20)
    buffer = timedelta(minutes=appointment_type.buffer_minutes if appointment_type else 0)
    override: dict[str, Any] = {}
    if check_hours:
        override = _hours_override(
            provider=provider,
            start=start,
            end=start + minutes,
            blocked_until=start + minutes + buffer,
            override_hours=override_hours,
            override_reason=override_reason,
        )
    with transaction.atomic():
        appointment = Appointment(
            practice_id=patient.practice_id,
            patient=patient,
            provider=provider,
            location=location or provider.location,
            appointment_type=appointment_type,
            start=start,
            end=start + minutes,
            blocked_until=start + minutes + buffer,
            status=status,
            source=source,
            external_id=external_id,
            status_changed_at=clock.now(),
        )
        _insert_guarded(appointment)
        audit_record(
            practice_id=patient.practice_id,
            actor=actor,
            action="appointment.book",
            obj=appointment,
            patient_id=patient.pk,
            detail={"source": source, **override},
        )
        hooks.run("booked", appointment)
        _publish(appointment)
    return appointment


def appointment_move(
    *,
    appointment: Appointment,
    start: datetime,
    provider: Provider | None = None,
    actor: Any = None,
    override_hours: bool = False,
    override_reason: str = "",
    check_hours: bool = True,
) -> Appointment:
    """Staff move a visit in place; its reminders are re-planned and the old slot is freed. The
    new time must fit the provider's working hours unless overridden (see `appointment_book`)."""
    if appointment.status not in ACTIVE_STATUSES:
        raise BookingError(f"a {appointment.get_status_display().lower()} appointment cannot be moved")
    if start.tzinfo is None:
        raise BookingError("start: needs a time zone")
    _same_practice(appointment.practice_id, provider)
    old = (appointment.provider_id, appointment.start, appointment.end)
    length = appointment.end - appointment.start
    buffer = appointment.blocked_until - appointment.end
    override: dict[str, Any] = {}
    if check_hours:
        override = _hours_override(
            provider=provider or appointment.provider,
            start=start,
            end=start + length,
            blocked_until=start + length + buffer,
            override_hours=override_hours,
            override_reason=override_reason,
        )
    with transaction.atomic():
        appointment.start = start
        appointment.end = start + length
        appointment.blocked_until = appointment.end + buffer
        if provider is not None:
            appointment.provider = provider
        if appointment.status == AppointmentStatus.CONFIRMED:
            appointment.status = AppointmentStatus.BOOKED  # a new time needs a new confirmation
        _insert_guarded(appointment)
        audit_record(
            practice_id=appointment.practice_id,
            actor=actor,
            action="appointment.move",
            obj=appointment,
            patient_id=appointment.patient_id,
            detail=override or None,
        )
        hooks.run("moved", appointment, freed=old)
        _publish(appointment)
    return appointment


def appointment_set_status(
    *, appointment: Appointment, status: str, actor: Any = None, reason: str = ""
) -> Appointment:
    if status not in AppointmentStatus.values:
        raise BookingError(f"status: unknown status {status!r}")
    with transaction.atomic():
        current = Appointment.objects.select_for_update().get(pk=appointment.pk)
        if status == current.status:
            return current
        if status not in ALLOWED_TRANSITIONS[AppointmentStatus(current.status)]:
            raise BookingError(
                f"status: cannot change a {current.get_status_display().lower()} appointment to {status}"
            )
        previous = current.status
        current.status = status
        current.status_changed_at = clock.now()
        if status == AppointmentStatus.CONFIRMED and current.confirmed_at is None:
            current.confirmed_at = current.status_changed_at
        current.save(update_fields=["status", "status_changed_at", "confirmed_at", "updated_at"])
        audit_record(
            practice_id=current.practice_id,
            actor=actor,
            action="appointment.status",
            obj=current,
            patient_id=current.patient_id,
            detail={"from": previous, "to": status, "reason": reason[:100]},
        )
        hooks.run("status", current, previous=previous)
        _publish(current)
    appointment.status = current.status
    appointment.status_changed_at = current.status_changed_at
    return current


def appointment_reschedule(
    *,
    appointment: Appointment,
    start: datetime,
    actor: Any = None,
    provider: Provider | None = None,
    override_hours: bool = False,
    override_reason: str = "",
) -> Appointment:
    """The patient chose a new time: book the new visit, mark the old one rescheduled (freeing
    its slot) — in one transaction, so neither half happens alone."""
    with transaction.atomic():
        new = appointment_book(
            patient=appointment.patient,
            provider=provider or appointment.provider,
            start=start,
            appointment_type=appointment.appointment_type,
            location=appointment.location,
            duration=appointment.end - appointment.start,
            actor=actor,
            source=appointment.source,
            override_hours=override_hours,
            override_reason=override_reason,
        )
        appointment_set_status(appointment=appointment, status=AppointmentStatus.RESCHEDULED, actor=actor)
        Appointment.objects.filter(pk=appointment.pk).update(rescheduled_to=new)
    return new


def _publish(appointment: Appointment) -> None:
    events.publish_on_commit(
        [events.practice_group(appointment.practice_id)],
        {"type": "appointment.updated", "appointment_id": appointment.pk, "patient_id": appointment.patient_id},
    )
