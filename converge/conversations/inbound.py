"""The inbound pipeline: one transaction per patient message, idempotent on the provider's id."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel
from converge.connectors.optout import keyword_handle
from converge.connectors.status import status_may_advance
from converge.connectors.types import UNCONFIRMED, DeliveryStatus, InboundMessage, MalformedPayload, StatusUpdate
from converge.conversations import hooks
from converge.conversations.models import (
    Attachment,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    Message,
)
from converge.core import clock, events
from converge.patients.addresses import PHONE_KINDS, InvalidAddress, normalize_address
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Practice
from converge.routing.services import classify_inbound, route_inbound

log = logging.getLogger(__name__)

# Out-of-office notices and other automatic answers (see `message_receive`).
AUTO_REPLY_KIND = "auto_reply"


@dataclass(frozen=True)
class Received:
    message: Message
    created: bool


def message_receive(
    *,
    channel: Channel,
    inbound: InboundMessage,
    conversation_hint: Conversation | None = None,
    received_at: datetime | None = None,
) -> Received:
    """Store one patient message: identify the sender, thread it, route it, audit it, and tell
    staff browsers after commit. A redelivery of the same provider id is a no-op.

    `conversation_hint` is the conversation the message says it answers (an email's reply token or
    Message-ID); it is used only when it is the identified sender's own conversation. Messages of
    kind `auto_reply` are stored and shown but not routed, handed to hooks or counted as waiting.
    `received_at` is when a webhook accepted it (conversations.inbound_queue), if earlier."""
    existing = _find(channel, inbound.provider_message_id)
    if existing is not None:
        return Received(existing, created=False)
    try:
        address = normalize_address(channel.kind, inbound.sender_address)
    except InvalidAddress as exc:
        raise MalformedPayload(f"sender address: {exc}") from None
    for _attempt in range(3):
        try:
            with transaction.atomic():
                message = _receive(channel, inbound, address, conversation_hint, received_at)
                return Received(message, created=True)
        except IntegrityError:
            # A concurrent delivery of the same message (or the same new sender) won the race.
            existing = _find(channel, inbound.provider_message_id)
            if existing is not None:
                return Received(existing, created=False)
    raise RuntimeError("could not store inbound message after retries")


def _find(channel: Channel, provider_message_id: str) -> Message | None:
    # The id first: a redelivery is rare, and loading every column for the usual miss is not free.
    found = Message.objects.filter(channel=channel, provider_message_id=provider_message_id).values_list("pk")
    pk = found.first()
    return Message.objects.get(pk=pk[0]) if pk is not None else None


def _receive(
    channel: Channel, inbound: InboundMessage, address: str, hint: Conversation | None, received_at: datetime | None
) -> Message:
    now = received_at or clock.now()
    practice = channel.practice
    automatic = inbound.kind == AUTO_REPLY_KIND
    contact, new_patient = _sender_contact(practice=practice, kind=channel.kind, address=address, now=now)
    patient = _current(contact.patient)
    conversation = _hinted_conversation(hint, patient=patient, now=now, automatic=automatic)
    if conversation is None:
        conversation = conversation_for_patient(practice=practice, patient=patient, now=now, new_patient=new_patient)
    reply_to = None
    if inbound.reply_to_provider_id:
        reply_to = Message.objects.filter(
            practice=practice,
            conversation__patient=patient,
            provider_message_id=inbound.reply_to_provider_id,
        ).first()
    metadata = dict(inbound.metadata)
    if inbound.sender_name:
        metadata["sender_name"] = inbound.sender_name[:120]
    message = Message(
        practice=practice,
        conversation=conversation,
        patient=patient,
        channel=channel,
        contact_point=contact,
        direction=Direction.INBOUND,
        kind=inbound.kind[:20],
        body=inbound.body,
        status=DeliveryStatus.RECEIVED,
        provider_message_id=inbound.provider_message_id,
        reply_to=reply_to,
        metadata=metadata,
        created_at=now,
        sent_at=inbound.sent_at,
    )
    if not automatic:
        classify_inbound(message)  # stored with the message, not in a second write
    message.save(force_insert=True)
    keyword_handle(channel=channel, contact=contact, conversation=conversation, message=message)  # SMS STOP/START/HELP
    for attachment in inbound.attachments:
        Attachment.objects.create(
            practice=practice,
            message=message,
            filename=attachment.filename[:255],
            content_type=attachment.content_type[:100],
            size=attachment.size,
            sha256=attachment.sha256 or "",
            provider_media_id=attachment.provider_media_id or "",
            source_url=attachment.url or "",
        )
    if contact.last_inbound_at != now:
        ContactPoint.objects.filter(pk=contact.pk).update(last_inbound_at=now)
    conversation.last_message_at = now
    conversation.last_inbound_at = now
    if not automatic:
        # An out-of-office or other auto-reply needs no answer: nothing waits, nothing routes,
        # and no hook (reminder replies, ...) may act on it.
        if conversation.waiting_since is None:
            conversation.waiting_since = now
        if conversation.status in (ConversationStatus.SNOOZED, ConversationStatus.PENDING):
            conversation.status = ConversationStatus.OPEN
            conversation.snoozed_until = None
        route_inbound(conversation=conversation, message=message)
        hooks.run_after_receive(conversation, message)
    conversation.updated_at = now
    conversation.save(
        update_fields=[
            "last_message_at",
            "last_inbound_at",
            "waiting_since",
            "status",
            "snoozed_until",
            "team",
            "assignee",
            "priority",
            "category",
            "updated_at",
        ]
    )
    audit_record(
        practice_id=practice.id,
        actor=f"channel:{channel.pk}",
        action="message.receive",
        obj=message,
        patient_id=patient.pk,
    )
    events.publish_on_commit(
        [events.practice_group(practice.id)],
        {"type": "message.received", "conversation_id": conversation.pk, "message_id": message.pk},
    )
    return message


def _current(patient: Patient) -> Patient:
    """Follow merges to the surviving record."""
    seen = 0
    while patient.merged_into_id is not None and seen < 10:
        patient = Patient.objects.get(pk=patient.merged_into_id)
        seen += 1
    return patient


def _hinted_conversation(
    hint: Conversation | None, *, patient: Patient, now: datetime, automatic: bool
) -> Conversation | None:
    """The hinted conversation when it is this patient's: reopened if it was resolved and the
    patient has no other open conversation (a reply to a thread is about that thread), left as it
    is for an auto-reply."""
    if hint is None or hint.practice_id != patient.practice_id or hint.patient_id != patient.pk:
        return None
    conversation = Conversation.objects.select_for_update().filter(pk=hint.pk).first()
    if conversation is None or conversation.status != ConversationStatus.RESOLVED or automatic:
        return conversation
    others_open = Conversation.objects.filter(patient=patient).exclude(status=ConversationStatus.RESOLVED).exists()
    if others_open:
        return None
    conversation.status = ConversationStatus.OPEN
    conversation.resolved_at = None
    conversation.save(update_fields=["status", "resolved_at"])
    ConversationEvent.objects.create(
        practice_id=conversation.practice_id,
        conversation=conversation,
        kind="reopened",
        text="Reopened by a reply to this conversation",
        created_at=now,
    )
    return conversation


def _sender_contact(*, practice: Practice, kind: str, address: str, now: datetime) -> tuple[ContactPoint, bool]:
    """The sender's contact point, created (for a new, unverified patient if the address is not
    known on a sibling channel) when it is new; and whether the patient is new."""
    contact = (
        ContactPoint.objects.select_related("patient").filter(practice=practice, kind=kind, address=address).first()
    )
    if contact is not None:
        return contact, False
    patient: Patient | None = None
    verified = False
    if kind in PHONE_KINDS:
        # The same number on SMS and WhatsApp is the same person: one history.
        sibling = (
            ContactPoint.objects.select_related("patient")
            .filter(practice=practice, kind__in=PHONE_KINDS, address=address)
            .order_by("created_at")
            .first()
        )
        if sibling is not None:
            patient, verified = _current(sibling.patient), sibling.is_verified
    new_patient = patient is None
    if patient is None:
        # Never guess: an unknown address becomes its own unverified contact until staff link it.
        patient = Patient.objects.create(practice=practice, is_verified=False)
    contact = ContactPoint.objects.create(
        practice=practice, patient=patient, kind=kind, address=address, is_verified=verified, last_inbound_at=now
    )
    return contact, new_patient


def conversation_for_patient(
    *, practice: Practice, patient: Patient, now: datetime, new_patient: bool = False
) -> Conversation:
    """The patient's unresolved conversation, a recently resolved one reopened, or a new one.
    A patient created in this transaction has none to look for."""
    conversation = None if new_patient else _existing_conversation(practice=practice, patient=patient, now=now)
    if conversation is not None:
        return conversation
    return Conversation.objects.create(
        practice=practice, patient=patient, last_message_at=now, created_at=now, updated_at=now
    )


def _existing_conversation(*, practice: Practice, patient: Patient, now: datetime) -> Conversation | None:
    conversation = (
        Conversation.objects.select_for_update()
        .filter(practice=practice, patient=patient)
        .exclude(status=ConversationStatus.RESOLVED)
        .first()
    )
    if conversation is not None:
        return conversation
    recent = (
        Conversation.objects.select_for_update()
        .filter(
            practice=practice,
            patient=patient,
            status=ConversationStatus.RESOLVED,
            resolved_at__gte=now - timedelta(days=practice.reopen_window_days),
        )
        .order_by("-resolved_at")
        .first()
    )
    if recent is not None:
        recent.status = ConversationStatus.OPEN
        recent.resolved_at = None
        recent.save(update_fields=["status", "resolved_at"])
        ConversationEvent.objects.create(
            practice=practice,
            conversation=recent,
            kind="reopened",
            text="Reopened by a new patient message",
            created_at=now,
        )
    return recent


def _by_reference(channel: Channel, update: StatusUpdate) -> Message | None:
    """The outbound message a status callback names by our reference when its provider id is not
    known to us: the answer to its send was lost. The callback proves the provider accepted it:
    it is recorded as sent, with the provider's id, and is never sent again."""
    try:
        key = uuid.UUID(update.reference)
    except ValueError:
        return None
    message = (
        Message.objects.select_for_update()
        .filter(
            channel=channel,
            idempotency_key=key,
            direction=Direction.OUTBOUND,
            provider_message_id__isnull=True,
        )
        .first()
    )
    if message is None:
        return None
    held = message.status in (DeliveryStatus.QUEUED, DeliveryStatus.SENDING)
    if not held and not (message.status == DeliveryStatus.FAILED and message.failure_code == UNCONFIRMED):
        return None
    now = clock.now()
    Message.objects.filter(pk=message.pk).update(
        status=DeliveryStatus.SENT,
        provider_message_id=update.provider_message_id,
        sent_at=message.sent_at or now,
        lease_token="",
        lease_expires_at=None,
        leased_by="",
        next_attempt_at=None,
        failure_code="",
        failure_reason="",
    )
    message.refresh_from_db()
    log.info("status callback confirmed an unconfirmed send message=%s", message.pk)
    audit_record(
        practice_id=message.practice_id,
        actor=f"channel:{channel.pk}",
        action="message.sent",
        obj=message,
        patient_id=message.patient_id,
        detail={"confirmed_by": "status callback"},
    )
    hooks.run_after_outcome(message)
    events.publish_on_commit(
        [events.practice_group(message.practice_id)],
        {
            "type": "message.status",
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "status": message.status,
        },
    )
    return message


def message_status_apply(*, channel: Channel, update: StatusUpdate) -> Message | None:
    """Apply a provider's delivery report; statuses never move backwards."""
    with transaction.atomic():
        message = (
            Message.objects.select_for_update()
            .filter(
                channel=channel,
                provider_message_id=update.provider_message_id,
                direction=Direction.OUTBOUND,
            )
            .first()
        )
        if message is None and update.reference:
            message = _by_reference(channel, update)
        if message is None:
            log.info("status for unknown message channel=%s", channel.pk)
            return None
        if not status_may_advance(message.status, update.status):
            return message
        now = update.at or clock.now()
        message.status = update.status
        fields = ["status"]
        if update.status == DeliveryStatus.DELIVERED:
            message.delivered_at = now
            fields.append("delivered_at")
        elif update.status == DeliveryStatus.READ:
            message.read_at = now
            fields.append("read_at")
        elif update.status == DeliveryStatus.FAILED:
            message.failure_code = update.error_code[:40]
            message.failure_reason = (update.error_reason or "delivery failed")[:300]
            fields += ["failure_code", "failure_reason"]
            if update.recipient_opted_out and message.contact_point_id:
                ContactPoint.objects.filter(pk=message.contact_point_id, opted_out_at__isnull=True).update(
                    opted_out_at=now
                )
        message.save(update_fields=fields)
        if update.status == DeliveryStatus.FAILED:
            from converge.conversations.hooks import run_after_outcome

            run_after_outcome(message)  # e.g. an on-call page the carrier could not deliver
        audit_record(
            practice_id=message.practice_id,
            actor=f"channel:{channel.pk}",
            action="message.status",
            obj=message,
            patient_id=message.patient_id,
            detail={"status": update.status, "code": update.error_code},
        )
        events.publish_on_commit(
            [events.practice_group(message.practice_id)],
            {
                "type": "message.status",
                "conversation_id": message.conversation_id,
                "message_id": message.pk,
                "status": message.status,
            },
        )
    return message
