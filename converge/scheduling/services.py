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


class BookingError(ValueError):
    """A booking that cannot be made; the message is shown to staff, API callers or patients."""


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
) -> Appointment:
    if start.tzinfo is None:
        raise BookingError("start: needs a time zone")
    _same_practice(patient.practice_id, provider, appointment_type, location)
    minutes = duration or timedelta(minutes=appointment_type.duration_minutes if appointment_type else 20)
    buffer = timedelta(minutes=appointment_type.buffer_minutes if appointment_type else 0)
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
            detail={"source": source},
        )
        hooks.run("booked", appointment)
        _publish(appointment)
    return appointment


def appointment_move(
    *, appointment: Appointment, start: datetime, provider: Provider | None = None, actor: Any = None
) -> Appointment:
    """Staff move a visit in place; its reminders are re-planned and the old slot is freed."""
    if appointment.status not in ACTIVE_STATUSES:
        raise BookingError(f"a {appointment.get_status_display().lower()} appointment cannot be moved")
    if start.tzinfo is None:
        raise BookingError("start: needs a time zone")
    _same_practice(appointment.practice_id, provider)
    old = (appointment.provider_id, appointment.start, appointment.end)
    length = appointment.end - appointment.start
    buffer = appointment.blocked_until - appointment.end
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
    *, appointment: Appointment, start: datetime, actor: Any = None, provider: Provider | None = None
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
        )
        appointment_set_status(appointment=appointment, status=AppointmentStatus.RESCHEDULED, actor=actor)
        Appointment.objects.filter(pk=appointment.pk).update(rescheduled_to=new)
    return new


def _publish(appointment: Appointment) -> None:
    events.publish_on_commit(
        [events.practice_group(appointment.practice_id)],
        {"type": "appointment.updated", "appointment_id": appointment.pk, "patient_id": appointment.patient_id},
    )
