"""Waitlist auto-fill: a freed slot is offered to matching waitlisted patients in small batches
with a hold time; the first to accept gets it (race-safe), the others are told it's taken."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q

from converge.audit.services import audit_record
from converge.conversations.models import Conversation, Message
from converge.conversations.services import ServiceError, message_queue
from converge.core import clock
from converge.patients.models import Patient
from converge.reminders import content
from converge.reminders.channels import channel_order, conversation_for_outreach, reachable_routes
from converge.reminders.intents import Intent
from converge.reminders.models import PatientPrompt, PromptKind
from converge.reminders.services import local, patient_time_zone, policy_for
from converge.scheduling.models import (
    ACTIVE_STATUSES,
    Appointment,
    AppointmentType,
    Provider,
    SlotOffer,
    SlotOfferRecipient,
    WaitlistEntry,
)
from converge.scheduling.selectors import working_hours_problem
from converge.scheduling.services import BookingError, appointment_book

log = logging.getLogger(__name__)

TAKEN_EN = "{practice}: thank you — that time has just been taken. We'll keep you on the waitlist."
TAKEN_ES = "{practice}: gracias — ese horario ya se ha ocupado. Le mantenemos en la lista de espera."


def waitlist_add(
    *,
    patient: Patient,
    actor: Any,
    provider: Provider | None = None,
    appointment_type: AppointmentType | None = None,
    weekdays: list[int] | None = None,
    earliest_time: Any = None,
    latest_time: Any = None,
    earliest_date: Any = None,
) -> WaitlistEntry:
    if weekdays and any(not 0 <= d <= 6 for d in weekdays):
        raise ValueError("weekdays: use 0 (Monday) to 6 (Sunday)")
    with transaction.atomic():
        entry = WaitlistEntry.objects.create(
            practice_id=patient.practice_id,
            patient=patient,
            provider=provider,
            appointment_type=appointment_type,
            weekdays=weekdays or [],
            earliest_time=earliest_time,
            latest_time=latest_time,
            earliest_date=earliest_date,
            created_at=clock.now(),
        )
        audit_record(
            practice_id=patient.practice_id, actor=actor, action="waitlist.add", obj=entry, patient_id=patient.pk
        )
    return entry


class WaitlistError(ValueError):
    """Shown to staff as is."""


def waitlist_remove(*, entry: WaitlistEntry, actor: Any) -> WaitlistEntry:
    """Take a patient off the waitlist. Offers they still hold are withdrawn, so a late "yes"
    is answered as taken rather than booking someone who asked to come off."""
    now = clock.now()
    with transaction.atomic():
        current = WaitlistEntry.objects.select_for_update().get(pk=entry.pk, practice_id=entry.practice_id)
        if current.status == WaitlistEntry.Status.REMOVED:
            return current
        if current.status != WaitlistEntry.Status.ACTIVE:
            raise WaitlistError(f"this entry is already {current.get_status_display().lower()}")
        current.status = WaitlistEntry.Status.REMOVED
        current.save(update_fields=["status"])
        held = SlotOfferRecipient.objects.filter(entry=current, status=SlotOfferRecipient.Status.OFFERED)
        PatientPrompt.objects.filter(slot_offer__in=held, answered_at__isnull=True).update(answered_at=now)
        held.update(status=SlotOfferRecipient.Status.TOO_LATE, answered_at=now)
        audit_record(
            practice_id=current.practice_id,
            actor=actor,
            action="waitlist.remove",
            obj=current,
            patient_id=current.patient_id,
        )
    entry.status = current.status
    return current


def waitlist_active(*, practice_id: int, limit: int = 300) -> list[WaitlistEntry]:
    return list(
        WaitlistEntry.objects.filter(practice_id=practice_id, status=WaitlistEntry.Status.ACTIVE)
        .select_related("patient", "provider", "appointment_type")
        .order_by("created_at", "id")[:limit]
    )


def slot_offers_open(*, practice_id: int, limit: int = 100) -> list[SlotOffer]:
    """Open offers with their recipients (prefetched), soonest slot first."""
    return list(
        SlotOffer.objects.filter(practice_id=practice_id, status=SlotOffer.Status.OPEN)
        .select_related("provider", "appointment_type", "location")
        .prefetch_related("recipients__entry__patient")
        .order_by("start", "id")[:limit]
    )


def slot_freed(
    appointment: Appointment, *, start: datetime | None = None, end: datetime | None = None
) -> SlotOffer | None:
    """Open an offer for a slot that just became free (cancelled, rescheduled, moved). A slot
    outside the provider's working hours (a visit booked there by an explicit override) is not
    offered: patients would be booked into a time the practice does not work."""
    start = start or appointment.start
    end = end or appointment.end
    policy = policy_for(appointment.practice_id)
    if start - clock.now() < timedelta(minutes=policy.waitlist_min_lead_minutes):
        return None
    provider = Provider.objects.select_related("location", "practice").get(pk=appointment.provider_id)
    if working_hours_problem(provider=provider, start=start, end=end, blocked_until=end) is not None:
        return None
    if not WaitlistEntry.objects.filter(
        practice_id=appointment.practice_id, status=WaitlistEntry.Status.ACTIVE
    ).exists():
        return None
    return SlotOffer.objects.create(
        practice_id=appointment.practice_id,
        provider_id=appointment.provider_id,
        location_id=appointment.location_id,
        appointment_type_id=appointment.appointment_type_id,
        start=start,
        end=end,
        freed_from=appointment,
        next_batch_at=clock.now(),
        created_at=clock.now(),
    )


def _matches(entry: WaitlistEntry, offer: SlotOffer, tz: str) -> bool:
    start_local = local(offer.start, tz)
    if entry.weekdays and start_local.weekday() not in entry.weekdays:
        return False
    if entry.earliest_time and start_local.time() < entry.earliest_time:
        return False
    if entry.latest_time and start_local.time() > entry.latest_time:
        return False
    return not (entry.earliest_date and start_local.date() < entry.earliest_date)


def _slot_still_free(offer: SlotOffer) -> bool:
    return not Appointment.objects.filter(
        provider_id=offer.provider_id, status__in=ACTIVE_STATUSES, start__lt=offer.end, blocked_until__gt=offer.start
    ).exists()


def waitlist_send_batches(*, limit: int = 50) -> int:
    """Send the next batch for each open offer whose hold time ran out."""
    now = clock.now()
    sent = 0
    with transaction.atomic():
        offers = list(
            SlotOffer.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=SlotOffer.Status.OPEN, next_batch_at__lte=now)
            .select_related("provider", "location", "provider__practice")[:limit]
        )
        for offer in offers:
            sent += _next_batch(offer, now)
    return sent


def _close(offer: SlotOffer, reason: str) -> None:
    offer.status = SlotOffer.Status.CLOSED
    offer.closed_reason = reason
    offer.next_batch_at = None
    offer.save(update_fields=["status", "closed_reason", "next_batch_at"])
    SlotOfferRecipient.objects.filter(offer=offer, status=SlotOfferRecipient.Status.OFFERED).update(
        status=SlotOfferRecipient.Status.TOO_LATE
    )


def _next_batch(offer: SlotOffer, now: datetime) -> int:
    policy = policy_for(offer.practice_id)
    if offer.start - now < timedelta(minutes=policy.waitlist_min_lead_minutes):
        _close(offer, "too close to the start")
        return 0
    if not _slot_still_free(offer):
        _close(offer, "booked by other means")
        return 0
    offered = set(SlotOfferRecipient.objects.filter(offer=offer).values_list("entry_id", flat=True))
    candidates = (
        WaitlistEntry.objects.filter(practice_id=offer.practice_id, status=WaitlistEntry.Status.ACTIVE)
        .filter(Q(provider__isnull=True) | Q(provider_id=offer.provider_id))
        .filter(Q(appointment_type__isnull=True) | Q(appointment_type_id=offer.appointment_type_id))
        .exclude(pk__in=offered)
        .select_related("patient", "patient__practice")
        .order_by("created_at")
    )
    batch_number = offer.batches_sent + 1
    hold_until = now + timedelta(minutes=policy.waitlist_hold_minutes)
    sent = 0
    for entry in candidates.iterator():
        tz = patient_time_zone(entry.patient)
        if not _matches(entry, offer, tz):
            continue
        routes = reachable_routes(entry.patient, channel_order(entry.patient, list(policy.fallback_order)))
        if not routes:
            continue
        route = routes[0]
        conversation = conversation_for_outreach(entry.patient)
        body = content.waitlist_offer_text(
            language=entry.patient.language,
            practice_name=entry.patient.practice.name,
            start_local=local(offer.start, tz),
            location_name=offer.location.name if offer.location else "",
            channel=route.channel.kind,
            hold_until_local=local(hold_until, tz),
        )
        try:
            message_queue(
                conversation=conversation,
                channel=route.channel,
                body=body,
                sender=None,
                is_automatic=True,
                contact=route.contact,
                metadata={"slot_offer_id": offer.pk, "buttons": [{"id": "confirm", "title": "Take it"}]},
            )
        except ServiceError:
            continue
        recipient = SlotOfferRecipient.objects.create(
            practice_id=offer.practice_id, offer=offer, entry=entry, batch=batch_number, offered_at=now
        )
        PatientPrompt.objects.create(
            practice_id=offer.practice_id,
            patient=entry.patient,
            conversation=conversation,
            kind=PromptKind.WAITLIST,
            slot_offer=recipient,
            expires_at=offer.start,
            created_at=now,
        )
        sent += 1
        if sent >= policy.waitlist_batch_size:
            break
    if sent == 0:
        if not SlotOfferRecipient.objects.filter(offer=offer, status=SlotOfferRecipient.Status.OFFERED).exists() or (
            offer.batches_sent and offer.next_batch_at and offer.next_batch_at <= now
        ):
            _close(offer, "no more matching patients")
        return 0
    offer.batches_sent = batch_number
    offer.next_batch_at = hold_until
    offer.save(update_fields=["batches_sent", "next_batch_at"])
    return sent


def waitlist_answer(
    prompt: PatientPrompt, intent: Intent, option: int | None, conversation: Conversation, message: Message
) -> bool:
    recipient = prompt.slot_offer
    assert recipient is not None
    if intent == Intent.CANCEL:
        SlotOfferRecipient.objects.filter(pk=recipient.pk).update(
            status=SlotOfferRecipient.Status.DECLINED, answered_at=clock.now()
        )
        return True
    if intent not in (Intent.CONFIRM, Intent.RESCHEDULE) or (intent == Intent.RESCHEDULE and option != 1):
        return False
    accepted = waitlist_accept(recipient_id=recipient.pk)
    patient = prompt.patient
    tz = patient_time_zone(patient)
    practice_name = patient.practice.name
    if accepted is None:
        text = (TAKEN_ES if patient.language == "es" else TAKEN_EN).format(practice=practice_name)
    else:
        text = content.confirmation_text(
            Intent.RESCHEDULE,
            patient.language,
            practice_name=practice_name,
            new_start_local=local(accepted.start, tz),
            location_name=accepted.location.name if accepted.location else None,
        )
    with contextlib.suppress(ServiceError):
        message_queue(conversation=conversation, channel=message.channel, body=text, sender=None, is_automatic=True)
    return True


def waitlist_accept(*, recipient_id: int) -> Appointment | None:
    """First acceptance wins: the offer row is locked, and the booking guard refuses a slot taken
    any other way. Everyone else still holding the offer is told it's gone."""
    now = clock.now()
    with transaction.atomic():
        recipient = SlotOfferRecipient.objects.select_related("entry", "entry__patient").get(pk=recipient_id)
        offer = SlotOffer.objects.select_for_update().get(pk=recipient.offer_id)
        if offer.status != SlotOffer.Status.OPEN or recipient.status != SlotOfferRecipient.Status.OFFERED:
            SlotOfferRecipient.objects.filter(pk=recipient.pk).update(
                status=SlotOfferRecipient.Status.TOO_LATE, answered_at=now
            )
            return None
        try:
            appointment = appointment_book(
                patient=recipient.entry.patient,
                provider=offer.provider,
                start=offer.start,
                appointment_type=offer.appointment_type,
                location=offer.location,
                duration=offer.end - offer.start,
                actor="patient",
                source="waitlist",
            )
        except BookingError:
            _close(offer, "booked by other means")
            SlotOfferRecipient.objects.filter(pk=recipient.pk).update(
                status=SlotOfferRecipient.Status.TOO_LATE, answered_at=now
            )
            return None
        offer.status = SlotOffer.Status.FILLED
        offer.filled_by = appointment
        offer.next_batch_at = None
        offer.save(update_fields=["status", "filled_by", "next_batch_at"])
        SlotOfferRecipient.objects.filter(pk=recipient.pk).update(
            status=SlotOfferRecipient.Status.ACCEPTED, answered_at=now
        )
        WaitlistEntry.objects.filter(pk=recipient.entry_id).update(status=WaitlistEntry.Status.BOOKED)
        others = list(
            SlotOfferRecipient.objects.filter(offer=offer, status=SlotOfferRecipient.Status.OFFERED).select_related(
                "entry__patient", "entry__patient__practice"
            )
        )
        for other in others:
            _tell_taken(other)
        SlotOfferRecipient.objects.filter(pk__in=[o.pk for o in others]).update(
            status=SlotOfferRecipient.Status.TOO_LATE
        )
        PatientPrompt.objects.filter(slot_offer__offer=offer, answered_at__isnull=True).update(answered_at=now)
        audit_record(
            practice_id=offer.practice_id,
            actor="patient",
            action="waitlist.fill",
            obj=offer,
            patient_id=recipient.entry.patient_id,
        )
    return appointment


def _tell_taken(recipient: SlotOfferRecipient) -> None:
    patient = recipient.entry.patient
    policy = policy_for(patient.practice_id)
    routes = reachable_routes(patient, channel_order(patient, list(policy.fallback_order)))
    if not routes:
        return
    text = (TAKEN_ES if patient.language == "es" else TAKEN_EN).format(practice=patient.practice.name)
    try:
        message_queue(
            conversation=conversation_for_outreach(patient),
            channel=routes[0].channel,
            body=text,
            sender=None,
            is_automatic=True,
            contact=routes[0].contact,
        )
    except ServiceError:
        log.info("could not tell waitlist patient the slot was taken recipient=%s", recipient.pk)
