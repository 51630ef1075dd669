"""Understanding a patient's reply to a reminder, a choice of new times, or a waitlist offer.

Runs inside the inbound transaction. What is understood is acted on (confirm, cancel, offer new
times, book the chosen time, take a waitlist slot) and answered on the same channel; anything
ambiguous goes to the scheduling team for a person, never guessed.
"""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta

from converge.conversations.models import Conversation, ConversationEvent, ConversationStatus, Message, Priority
from converge.conversations.services import ServiceError, message_queue
from converge.core import clock
from converge.practices.models import Team
from converge.reminders import content
from converge.reminders.intents import Intent, understand_reply
from converge.reminders.models import PatientPrompt, PromptKind
from converge.reminders.services import local, patient_time_zone, policy_for
from converge.scheduling.models import Appointment, AppointmentStatus
from converge.scheduling.selectors import availability
from converge.scheduling.services import BookingError, appointment_reschedule, appointment_set_status


def has_open_prompt(message: Message) -> bool:
    """Whether the patient has an unanswered question of ours (reminder, reschedule, waitlist
    offer). Asked by routing and by this hook for the same message, so read once per message."""
    known = message.__dict__.get("_has_open_prompt")
    if known is None:
        known = PatientPrompt.objects.filter(
            patient_id=message.patient_id, answered_at__isnull=True, expires_at__gt=clock.now()
        ).exists()
        message.__dict__["_has_open_prompt"] = known
    return bool(known)


def remember_open_prompt(message: Message, known: bool) -> None:
    """The inbound pipeline read it with the sender (one query for both): no second read."""
    message.__dict__["_has_open_prompt"] = known


def _carries_risk(message: Message) -> bool:
    return bool((message.metadata.get("classification") or {}).get("urgent"))


def handle_reply(conversation: Conversation, message: Message) -> None:
    # Urgent beats everything: a risk signal never confirms, cancels or moves a visit, and the
    # conversation stays with clinical staff (routing already made it urgent).
    if _carries_risk(message) or not has_open_prompt(message):
        return
    now = clock.now()
    prompt = (
        # of=("self",): PostgreSQL refuses FOR UPDATE on the nullable side of the outer joins below.
        PatientPrompt.objects.select_for_update(of=("self",))
        .filter(patient_id=message.patient_id, answered_at__isnull=True, expires_at__gt=now)
        .select_related(
            "appointment", "appointment__location", "appointment__appointment_type", "appointment__provider"
        )
        .order_by("-created_at")
        .first()
    )
    if prompt is None:
        return
    text = str(message.metadata.get("reply_id") or message.body)
    offered = (
        len(prompt.options)
        if prompt.kind == PromptKind.RESCHEDULE
        else (1 if prompt.kind == PromptKind.WAITLIST else 0)
    )
    understood = understand_reply(text, channel=message.channel.kind, offered_options=offered)
    handled = False
    if prompt.kind == PromptKind.REMINDER and prompt.appointment is not None:
        handled = _answer_reminder(prompt, understood.intent, conversation, message)
    elif prompt.kind == PromptKind.RESCHEDULE and prompt.appointment is not None:
        handled = _answer_reschedule(prompt, understood.intent, understood.option, conversation, message)
    elif prompt.kind == PromptKind.WAITLIST and prompt.slot_offer is not None:
        from converge.reminders.waitlist import waitlist_answer

        handled = waitlist_answer(prompt, understood.intent, understood.option, conversation, message)
    if handled:
        prompt.answered_at = now
        prompt.save(update_fields=["answered_at"])
        if conversation.priority < Priority.URGENT:
            # Nothing left for a person to do; the automatic answer is in the thread.
            conversation.waiting_since = None
            if conversation.status != ConversationStatus.RESOLVED:
                conversation.status = ConversationStatus.RESOLVED
                conversation.resolved_at = now
                conversation.save(update_fields=["status", "resolved_at"])
    else:
        _to_scheduling(conversation, now)


def _to_scheduling(conversation: Conversation, now: datetime) -> None:
    team = Team.objects.filter(practice_id=conversation.practice_id, slug="scheduling").first()
    if team is not None and conversation.priority < Priority.URGENT:
        conversation.team = team
    if not conversation.category:
        conversation.category = "scheduling"
    ConversationEvent.objects.create(
        practice_id=conversation.practice_id,
        conversation=conversation,
        kind="needs_person",
        text="Reply to an appointment message needs a person",
        created_at=now,
    )


def _say(conversation: Conversation, message: Message, body: str, **metadata: object) -> None:
    # If it cannot go out (e.g. the patient just opted out), the action itself still stands.
    with contextlib.suppress(ServiceError):
        message_queue(
            conversation=conversation,
            channel=message.channel,
            body=body,
            sender=None,
            is_automatic=True,
            metadata=dict(metadata),
        )


def _answer_reminder(prompt: PatientPrompt, intent: Intent, conversation: Conversation, message: Message) -> bool:
    appointment = prompt.appointment
    assert appointment is not None
    patient = appointment.patient
    tz = patient_time_zone(patient, appointment)
    practice_name = patient.practice.name
    when = local(appointment.start, tz)
    if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED):
        return False
    if intent == Intent.CONFIRM:
        appointment_set_status(appointment=appointment, status=AppointmentStatus.CONFIRMED, actor="patient")
        _say(
            conversation,
            message,
            content.confirmation_text(Intent.CONFIRM, patient.language, practice_name=practice_name, start_local=when),
        )
        return True
    if intent == Intent.CANCEL:
        appointment_set_status(
            appointment=appointment, status=AppointmentStatus.CANCELLED, actor="patient", reason="patient reply"
        )
        _say(
            conversation,
            message,
            content.confirmation_text(Intent.CANCEL, patient.language, practice_name=practice_name, start_local=when),
        )
        return True
    if intent == Intent.RESCHEDULE:
        return offer_new_times(appointment, conversation, message)
    return False


def offer_new_times(appointment: Appointment, conversation: Conversation, message: Message) -> bool:
    policy = policy_for(appointment.practice_id)
    patient = appointment.patient
    tz = patient_time_zone(patient, appointment)
    if appointment.appointment_type is None:
        return False
    now = clock.now()
    found = availability(
        practice_id=appointment.practice_id,
        appointment_type=appointment.appointment_type,
        start=now,
        end=now + timedelta(days=21),
        providers=[appointment.provider],
        min_notice=timedelta(minutes=policy.min_notice_minutes),
    )
    # Spread the choices over different days rather than offering three back-to-back slots.
    chosen: list[tuple[datetime, datetime]] = []
    days: set[object] = set()
    for _provider, start, end in found:
        day = local(start, tz).date()
        if day in days or start == appointment.start:
            continue
        days.add(day)
        chosen.append((start, end))
        if len(chosen) >= policy.reschedule_options:
            break
    if not chosen:
        return False
    PatientPrompt.objects.create(
        practice_id=appointment.practice_id,
        patient=patient,
        conversation=conversation,
        kind=PromptKind.RESCHEDULE,
        appointment=appointment,
        options=[{"start": s.isoformat(), "end": e.isoformat()} for s, e in chosen],
        expires_at=min(appointment.start, now + timedelta(days=2))
        if appointment.start > now
        else now + timedelta(days=2),
        created_at=now,
    )
    _say(conversation, message, content.slot_options_text(patient.language, [local(s, tz) for s, _e in chosen]))
    return True


def _answer_reschedule(
    prompt: PatientPrompt, intent: Intent, option: int | None, conversation: Conversation, message: Message
) -> bool:
    appointment = prompt.appointment
    assert appointment is not None
    patient = appointment.patient
    tz = patient_time_zone(patient, appointment)
    if intent == Intent.CANCEL:
        if appointment.status in (AppointmentStatus.BOOKED, AppointmentStatus.CONFIRMED):
            appointment_set_status(appointment=appointment, status=AppointmentStatus.CANCELLED, actor="patient")
            _say(
                conversation,
                message,
                content.confirmation_text(
                    Intent.CANCEL,
                    patient.language,
                    practice_name=patient.practice.name,
                    start_local=local(appointment.start, tz),
                ),
            )
            return True
        return False
    if intent != Intent.RESCHEDULE or option is None or not 1 <= option <= len(prompt.options):
        return False
    picked = datetime.fromisoformat(prompt.options[option - 1]["start"])
    try:
        new = appointment_reschedule(appointment=appointment, start=picked, actor="patient")
    except BookingError:
        # Taken in the meantime: offer fresh times instead of guessing.
        prompt.answered_at = clock.now()
        prompt.save(update_fields=["answered_at"])
        return offer_new_times(appointment, conversation, message)
    _say(
        conversation,
        message,
        content.confirmation_text(
            Intent.RESCHEDULE,
            patient.language,
            practice_name=patient.practice.name,
            new_start_local=local(new.start, tz),
            location_name=new.location.name if new.location else None,
        ),
    )
    return True
