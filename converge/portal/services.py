"""The patient side of the secure portal: entering with a single-use link plus date of birth,
reading secure messages, replying into the same conversation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from django.db import transaction

from converge.audit.services import audit_record
from converge.conversations.inbound.pipeline import message_receive, message_status_apply
from converge.conversations.models import Direction, Message
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.privacy.models import PortalLink
from converge.privacy.portal_delivery import portal_channel, token_hash
from converge.providers.types import DeliveryStatus, InboundMessage, StatusUpdate

MAX_DOB_ATTEMPTS = 5


class PortalDenied(ValueError):
    """Shown to the patient as is: never says which part was wrong or whether a patient exists."""


@dataclass(frozen=True)
class PortalGrant:
    patient_id: int
    practice_id: int
    conversation_id: int


def link_lookup(token: str) -> PortalLink | None:
    link = (
        PortalLink.objects.select_related("patient", "patient__practice").filter(token_hash=token_hash(token)).first()
    )
    if link is None or link.used_at is not None or link.expires_at <= clock.now():
        return None
    if link.failed_checks >= MAX_DOB_ATTEMPTS:
        return None
    return link


def portal_enter(*, token: str, date_of_birth: date | None, ip: str) -> PortalGrant:
    generic = PortalDenied("This link is not valid any more, or the details do not match.")
    failure: PortalDenied | None = None
    with transaction.atomic():
        link = (
            PortalLink.objects.select_for_update()
            .filter(token_hash=token_hash(token))
            .select_related("patient")
            .first()
        )
        usable = link is not None and link.used_at is None and link.expires_at > clock.now()
        if link is None or not usable or link.failed_checks >= MAX_DOB_ATTEMPTS:
            raise generic
        patient = link.patient
        if patient.date_of_birth is None or date_of_birth != patient.date_of_birth:
            # Recorded before refusing: the count must survive the refusal.
            link.failed_checks += 1
            link.save(update_fields=["failed_checks"])
            audit_record(
                practice_id=link.practice_id,
                actor="patient-portal",
                action="portal.check_failed",
                patient_id=patient.pk,
                ip=ip,
            )
            failure = generic
            if link.failed_checks >= MAX_DOB_ATTEMPTS:
                failure = PortalDenied("Too many attempts. Please ask the practice for a new link.")
        else:
            link.used_at = clock.now()
            link.save(update_fields=["used_at"])
            _portal_address_ensure(link.practice_id, patient.pk)
            audit_record(
                practice_id=link.practice_id,
                actor="patient-portal",
                action="portal.enter",
                patient_id=patient.pk,
                ip=ip,
            )
    if failure is not None:
        raise failure
    return PortalGrant(patient_id=patient.pk, practice_id=link.practice_id, conversation_id=link.conversation_id)


def portal_thread(grant: PortalGrant) -> tuple[Patient, list[Message]]:
    """The secure messages of the patient's conversations, oldest first; unread ones become read."""
    patient = Patient.objects.select_related("practice").get(pk=grant.patient_id, practice_id=grant.practice_id)
    channel = portal_channel(grant.practice_id)
    messages = list(
        Message.objects.filter(practice_id=grant.practice_id, patient_id=patient.pk, channel=channel)
        .select_related("sender")
        .order_by("created_at", "id")
    )
    for message in messages:
        if message.direction == Direction.OUTBOUND and message.status in (
            DeliveryStatus.SENT,
            DeliveryStatus.DELIVERED,
        ):
            message_status_apply(
                channel=channel,
                update=StatusUpdate(provider_message_id=message.provider_message_id or "", status=DeliveryStatus.READ),
            )
            message.status = DeliveryStatus.READ
    audit_record(practice_id=grant.practice_id, actor="patient-portal", action="portal.read", patient_id=patient.pk)
    return patient, messages


def _portal_address_ensure(practice_id: int, patient_id: int) -> str:
    """The patient's verified portal address, which routes their replies to their own record."""
    address = f"patient-{patient_id}"
    ContactPoint.objects.get_or_create(
        practice_id=practice_id,
        kind="portal",
        address=address,
        defaults={"patient_id": patient_id, "is_verified": True},
    )
    return address


def portal_reply(grant: PortalGrant, body: str) -> Message:
    body = body.strip()
    if not body:
        raise PortalDenied("Please write a message first.")
    if len(body) > 4000:
        raise PortalDenied("Please keep your message under 4,000 characters.")
    channel = portal_channel(grant.practice_id)
    # Ensured here too: a grant made without the link step (the demo's seeded reply) must not
    # turn the patient into an unknown sender.
    address = _portal_address_ensure(grant.practice_id, grant.patient_id)
    received = message_receive(
        channel=channel,
        inbound=InboundMessage(provider_message_id=f"portal-{uuid.uuid4()}", sender_address=address, body=body),
    )
    return received.message
