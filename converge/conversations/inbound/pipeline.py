"""The inbound pipeline: one transaction per patient message, idempotent on the provider's id.

Every patient message — from the inbound queue's worker lane, an IMAP poll, the web chat socket or
the portal — goes through `message_receive`, whose steps run in this order, top to bottom in
`_receive`:

1. identify   the sender's contact point and patient (an unknown address becomes an unverified
              patient; the same number on SMS and WhatsApp is one person), in one query
2. thread     into the patient's open conversation, a recently resolved one reopened, or a new one
3. triage     red flags first: a risk signal beats every other reading of the message
4. store      the message and its attachments
5. keywords   carrier keywords (SMS STOP / START / HELP), which the carrier obliges us to honour
6. route      team, priority and assignee by the triage; the safety reply and the escalation of
              an urgent message; the after-hours answer
7. react      domain reactions: a reply to a reminder or offer (never for a message with a risk
              signal), an invitation to continue in the secure portal
8. audit      one audit row
9. publish    a live event to staff browsers, after commit

What follows a send's recorded outcome is listed in conversations.outbox (`outcome_react`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from django.db import IntegrityError, connection, transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel
from converge.connectors.optout import keyword_handle
from converge.conversations.models import (
    Attachment,
    Conversation,
    ConversationEvent,
    ConversationStatus,
    Direction,
    InboundEvent,
    Message,
)
from converge.conversations.outbox import outcome_react
from converge.core import clock, events, rows
from converge.patients.addresses import PHONE_KINDS, InvalidAddress, normalize_address
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import Practice
from converge.privacy.invitations import invite_to_portal
from converge.providers.status import status_may_advance
from converge.providers.twilio.protocol import classify_keyword
from converge.providers.types import (
    UNCONFIRMED,
    ChannelKind,
    DeliveryStatus,
    InboundMessage,
    MalformedPayload,
    StatusUpdate,
)
from converge.reminders.models import PatientPrompt
from converge.reminders.replies import handle_reply, remember_open_prompt
from converge.routing.services import classify_inbound, route_inbound

log = logging.getLogger(__name__)

# Out-of-office notices and other automatic answers (see `message_receive`).
AUTO_REPLY_KIND = "auto_reply"

# A concurrent delivery of the same message, or of a first message from the same new sender, makes
# the INSERT fail on a unique constraint; the message is then taken again, knowing there may be one.
ATTEMPTS = 3


@dataclass(frozen=True)
class Received:
    message: Message
    created: bool


@dataclass(frozen=True)
class Sender:
    contact: ContactPoint
    patient: Patient
    is_new: bool  # created by this message: nothing of theirs to look up
    has_open_prompt: bool  # an unanswered reminder, offer or choice of times of ours


def message_receive(
    *,
    channel: Channel,
    inbound: InboundMessage,
    conversation_hint: Conversation | None = None,
    received_at: datetime | None = None,
    queued: InboundEvent | None = None,
) -> Received:
    """Store one patient message: identify the sender, thread it, route it, audit it, and tell
    staff browsers after commit. A redelivery of the same provider id is a no-op.

    `conversation_hint` is the conversation the message says it answers (an email's reply token or
    Message-ID); it is used only when it is the identified sender's own conversation. Messages of
    kind `auto_reply` are stored and shown but not routed, reacted to or counted as waiting.
    `received_at` is when a webhook accepted it; `queued` is its inbound-queue row, deleted in the
    same transaction (conversations.inbound.queue)."""
    try:
        address = normalize_address(channel.kind, inbound.sender_address)
    except InvalidAddress as exc:
        raise MalformedPayload(f"sender address: {exc}") from None
    for attempt in range(ATTEMPTS):
        try:
            with transaction.atomic():
                # The unique constraint on (channel, provider id) finds a redelivery: no SELECT for
                # it on the first try, which is nearly always a new message.
                existing = _find(channel, inbound.provider_message_id) if attempt else None
                if existing is not None:
                    received = Received(existing, created=False)
                else:
                    received = Received(_receive(channel, inbound, address, conversation_hint, received_at), True)
                if queued is not None:
                    rows.delete(InboundEvent, queued.pk)
                return received
        except IntegrityError:
            continue
    raise RuntimeError("could not store inbound message after retries")


def _find(channel: Channel, provider_message_id: str) -> Message | None:
    return Message.objects.filter(channel=channel, provider_message_id=provider_message_id).first()


def _receive(
    channel: Channel, inbound: InboundMessage, address: str, hint: Conversation | None, received_at: datetime | None
) -> Message:
    now = received_at or clock.now()
    practice = channel.practice
    automatic = inbound.kind == AUTO_REPLY_KIND
    sender = identify(practice=practice, kind=channel.kind, address=address, now=now)
    conversation, started = thread(practice=practice, sender=sender, hint=hint, now=now, automatic=automatic)
    message = _message(channel, inbound, sender, conversation, now)
    if not automatic:
        triage(message, sender)
    store(message, inbound)
    if sender.contact.last_inbound_at != now:
        sender.contact.last_inbound_at = now
        rows.update(sender.contact, ["last_inbound_at"])
    conversation.last_message_at = now
    conversation.last_inbound_at = now
    keyword_handle(channel=channel, contact=sender.contact, conversation=conversation, message=message)
    if not automatic:
        # An out-of-office or other auto-reply needs no answer: nothing waits, nothing routes,
        # and nothing reacts to it.
        _await_answer(conversation, now)
        route_inbound(conversation=conversation, message=message, first_message=started)
        react(conversation, message)
    conversation.updated_at = now
    rows.update(
        conversation,
        [
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
        ],
    )
    audit_record(
        practice_id=practice.id,
        actor=f"channel:{channel.pk}",
        action="message.receive",
        obj=message,
        patient_id=sender.patient.pk,
    )
    events.publish_on_commit(
        [events.practice_group(practice.id)],
        {"type": "message.received", "conversation_id": conversation.pk, "message_id": message.pk},
    )
    return message


# --- the steps ---------------------------------------------------------------------------------


def identify(*, practice: Practice, kind: str, address: str, now: datetime) -> Sender:
    """The sender's contact point, created (for a new, unverified patient if the address is not
    known on a sibling channel) when it is new. One query: the address on this channel kind and,
    for a phone number, on the other phone kind (the same number on SMS and WhatsApp is the same
    person: one history), with whether the patient has an open question of ours."""
    kinds = sorted(PHONE_KINDS) if kind in PHONE_KINDS else [kind]
    found = _contacts_at(practice=practice, kinds=kinds, address=address, now=now)
    own = next(((c, prompt) for c, prompt in found if c.kind == kind), None)
    if own is not None:
        contact, prompt = own
        patient = _current(contact.patient)
        if patient.pk != contact.patient_id:
            prompt = _prompt_open(patient, now)
        return Sender(contact, patient, is_new=False, has_open_prompt=prompt)
    sibling = found[0] if found else None
    if sibling is not None:
        patient, verified, prompt = _current(sibling[0].patient), sibling[0].is_verified, sibling[1]
        if patient.pk != sibling[0].patient_id:
            prompt = _prompt_open(patient, now)
    else:
        # Never guess: an unknown address becomes its own unverified contact until staff link it.
        patient, verified, prompt = rows.insert(Patient(practice=practice, is_verified=False)), False, False
    contact = rows.insert(
        ContactPoint(
            practice=practice, patient=patient, kind=kind, address=address, is_verified=verified, last_inbound_at=now
        )
    )
    return Sender(contact, patient, is_new=sibling is None, has_open_prompt=prompt)


@cache
def _contacts_sql(kinds: int) -> str:
    # Written once per process (converge.core.rows): as an ORM query (select_related + EXISTS) its
    # building and compiling cost a millisecond of the worker's CPU per message. Identifiers come
    # from the models' metadata; every value is a parameter.
    r, prompt = rows.column, PatientPrompt
    return (
        f"SELECT {rows.columns(ContactPoint, 'c')}, {rows.columns(Patient, 'p')}, EXISTS ("  # noqa: S608
        f"SELECT 1 FROM {rows.table(prompt)} r WHERE r.{r(prompt, 'patient')} = c.patient_id"
        f" AND r.{r(prompt, 'answered_at')} IS NULL AND r.{r(prompt, 'expires_at')} > %s)"
        f" FROM {rows.table(ContactPoint)} c INNER JOIN {rows.table(Patient)} p ON p.id = c.patient_id"
        f" WHERE c.practice_id = %s AND c.address = %s AND c.kind IN ({', '.join(['%s'] * kinds)})"
        " ORDER BY c.created_at, c.id"
    )


def _contacts_at(
    *, practice: Practice, kinds: Sequence[str], address: str, now: datetime
) -> list[tuple[ContactPoint, bool]]:
    """The practice's contact points at `address` on `kinds`, oldest first, each with its patient
    and whether that patient has an open question of ours."""
    with connection.cursor() as cursor:
        cursor.execute(
            _contacts_sql(len(kinds)),
            [connection.ops.adapt_datetimefield_value(now), practice.pk, address, *kinds],
        )
        found = cursor.fetchall()
    contact_width, patient_width = rows.width(ContactPoint), rows.width(Patient)
    contacts = []
    for row in found:
        contact = rows.instance(ContactPoint, row[:contact_width])
        contact.patient = rows.instance(Patient, row[contact_width : contact_width + patient_width])
        contacts.append((contact, bool(row[-1])))
    return contacts


def _prompt_open(patient: Patient, now: datetime) -> bool:
    return PatientPrompt.objects.filter(patient=patient, answered_at__isnull=True, expires_at__gt=now).exists()


def thread(
    *, practice: Practice, sender: Sender, hint: Conversation | None, now: datetime, automatic: bool
) -> tuple[Conversation, bool]:
    """The conversation the message belongs to, and whether the message starts it: the patient's
    unresolved conversation, a recently resolved one reopened, or a new one. A patient created in
    this transaction has none to look for."""
    conversation = _hinted_conversation(hint, patient=sender.patient, now=now, automatic=automatic)
    if conversation is None and not sender.is_new:
        conversation = _existing_conversation(practice=practice, patient=sender.patient, now=now)
    started = conversation is None
    if conversation is None:
        conversation = rows.insert(
            Conversation(practice=practice, patient=sender.patient, last_message_at=now, created_at=now, updated_at=now)
        )
    conversation.practice = practice  # the channel's, already loaded: routing reads its settings
    return conversation, started


def _message(
    channel: Channel, inbound: InboundMessage, sender: Sender, conversation: Conversation, now: datetime
) -> Message:
    reply_to = None
    if inbound.reply_to_provider_id and not sender.is_new:
        reply_to = Message.objects.filter(
            practice=channel.practice,
            conversation__patient=sender.patient,
            provider_message_id=inbound.reply_to_provider_id,
        ).first()
    metadata = dict(inbound.metadata)
    if inbound.sender_name:
        metadata["sender_name"] = inbound.sender_name[:120]
    if channel.kind == ChannelKind.SMS and (keyword := classify_keyword(inbound.body)):
        metadata["keyword"] = keyword  # stored with the message; step 5 acts on it
    return Message(
        practice=channel.practice,
        conversation=conversation,
        patient=sender.patient,
        channel=channel,
        contact_point=sender.contact,
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


def triage(message: Message, sender: Sender) -> None:
    """Red flags first, then the category; the result is stored with the message, not in a
    second write."""
    remember_open_prompt(message, sender.has_open_prompt)
    classify_inbound(message)


def store(message: Message, inbound: InboundMessage) -> None:
    rows.insert(message)
    for attachment in inbound.attachments:
        Attachment.objects.create(
            practice_id=message.practice_id,
            message=message,
            filename=attachment.filename[:255],
            content_type=attachment.content_type[:100],
            size=attachment.size,
            sha256=attachment.sha256 or "",
            provider_media_id=attachment.provider_media_id or "",
            source_url=attachment.url or "",
        )


def _await_answer(conversation: Conversation, now: datetime) -> None:
    if conversation.waiting_since is None:
        conversation.waiting_since = now
    if conversation.status in (ConversationStatus.SNOOZED, ConversationStatus.PENDING):
        conversation.status = ConversationStatus.OPEN
        conversation.snoozed_until = None


def react(conversation: Conversation, message: Message) -> None:
    """Domain reactions, in this order. A reply to a reminder is acted on before the portal
    invitation, so a "yes" that confirms a visit is not answered with an invitation too."""
    handle_reply(conversation, message)  # does nothing for a message with a risk signal
    invite_to_portal(conversation, message)


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


def _existing_conversation(*, practice: Practice, patient: Patient, now: datetime) -> Conversation | None:
    conversation = _open_conversation(practice=practice, patient=patient)
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


@cache
def _open_conversation_sql(lock: bool) -> str:
    return (
        f"SELECT {rows.columns(Conversation, 'v')} FROM {rows.table(Conversation)} v"  # noqa: S608
        " WHERE v.practice_id = %s AND v.patient_id = %s AND v.status <> %s ORDER BY v.id LIMIT 1"
        + (" FOR UPDATE" if lock else "")
    )


def _open_conversation(*, practice: Practice, patient: Patient) -> Conversation | None:
    """The patient's unresolved conversation, locked until commit (as select_for_update would)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _open_conversation_sql(connection.features.has_select_for_update),
            [practice.pk, patient.pk, ConversationStatus.RESOLVED],
        )
        row = cursor.fetchone()
    return rows.instance(Conversation, row) if row is not None else None


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
    outcome_react(message)
    _publish_status(message)
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
            outcome_react(message)  # e.g. an on-call page the carrier could not deliver
        audit_record(
            practice_id=message.practice_id,
            actor=f"channel:{channel.pk}",
            action="message.status",
            obj=message,
            patient_id=message.patient_id,
            detail={"status": update.status, "code": update.error_code},
        )
        _publish_status(message)
    return message


def _publish_status(message: Message) -> None:
    """Staff browsers re-read the message's delivery state, after commit."""
    events.publish_on_commit(
        [events.practice_group(message.practice_id)],
        {
            "type": "message.status",
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "status": message.status,
        },
    )
