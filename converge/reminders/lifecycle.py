"""What follows a booking change: reminders re-planned, freed slots offered to the waitlist, a
"we missed you" message and a follow-up item after a no-show, a follow-up prompt after a visit."""

from __future__ import annotations

import logging
from datetime import datetime

from converge.conversations.services import ServiceError, message_queue
from converge.core import clock
from converge.reminders import content
from converge.reminders.channels import channel_order, conversation_for_outreach, reachable_routes
from converge.reminders.services import policy_for, reminders_cancel, reminders_plan
from converge.reminders.waitlist import slot_freed
from converge.scheduling.models import Appointment, AppointmentStatus, FollowUpItem

log = logging.getLogger(__name__)


def on_booked(appointment: Appointment) -> None:
    reminders_plan(appointment)


def on_moved(appointment: Appointment, *, freed: tuple[int, datetime, datetime]) -> None:
    reminders_plan(appointment)
    provider_id, start, end = freed
    if start != appointment.start or provider_id != appointment.provider_id:
        # The old time as it was (provider, start, end), freed from the visit that moved away.
        ghost = Appointment(
            pk=appointment.pk,
            practice_id=appointment.practice_id,
            provider_id=provider_id,
            location_id=appointment.location_id,
            appointment_type_id=appointment.appointment_type_id,
        )
        slot_freed(ghost, start=start, end=end)


def on_status(appointment: Appointment, *, previous: str) -> None:
    status = appointment.status
    if status in (AppointmentStatus.CANCELLED, AppointmentStatus.RESCHEDULED):
        reminders_cancel(appointment, f"appointment {status}")
        if appointment.start > clock.now():
            slot_freed(appointment)
    elif status == AppointmentStatus.CONFIRMED:
        reminders_plan(appointment)
    elif status == AppointmentStatus.NO_SHOW:
        reminders_cancel(appointment, "no-show")
        _send_outreach(
            appointment, content.missed_you_text(appointment.patient.language, appointment.patient.practice.name)
        )
        FollowUpItem.objects.create(
            practice_id=appointment.practice_id,
            patient_id=appointment.patient_id,
            appointment=appointment,
            kind="no_show",
            note="Missed appointment: call to rebook",
            created_at=clock.now(),
        )
    elif status == AppointmentStatus.COMPLETED:
        # A care summary is never sent as text on SMS/WhatsApp; only an invitation to book.
        _send_outreach(
            appointment, content.followup_prompt_text(appointment.patient.language, appointment.patient.practice.name)
        )


def _send_outreach(appointment: Appointment, body: str) -> None:
    patient = appointment.patient
    policy = policy_for(appointment.practice_id)
    routes = reachable_routes(patient, channel_order(patient, list(policy.fallback_order)))
    if not routes:
        return
    try:
        message_queue(
            conversation=conversation_for_outreach(patient),
            channel=routes[0].channel,
            body=body,
            sender=None,
            is_automatic=True,
            contact=routes[0].contact,
            metadata={"appointment_id": appointment.pk},
        )
    except ServiceError:
        log.info("outreach not sent appointment=%s", appointment.pk)


def no_shows_mark_due() -> int:
    """Visits still booked or confirmed past start + grace, at practices that opted in."""
    from datetime import timedelta

    from converge.reminders.models import ReminderPolicy
    from converge.scheduling.services import appointment_set_status

    now = clock.now()
    marked = 0
    for policy in ReminderPolicy.objects.filter(auto_no_show=True):
        due = Appointment.objects.filter(
            practice_id=policy.practice_id,
            status__in=[AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED],
            start__lt=now - timedelta(minutes=policy.no_show_grace_minutes),
            start__gte=now - timedelta(days=2),
        ).select_related("patient", "patient__practice")
        for appointment in due:
            appointment_set_status(appointment=appointment, status=AppointmentStatus.NO_SHOW, reason="not checked in")
            marked += 1
    return marked
