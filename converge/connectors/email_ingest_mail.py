"""One fetched mail into Converge: a patient message, a bounce applied to what we sent, or a
quarantined mail. Every step is idempotent, so a mail fetched twice (after a crash before the
cursor moved) changes nothing the second time.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.email_channels import EmailConfig
from converge.connectors.models import Channel, EmailReplyToken, QuarantinedMail
from converge.conversations.inbound.pipeline import AUTO_REPLY_KIND, message_receive, message_status_apply
from converge.conversations.models import Attachment, Conversation, Direction, Message
from converge.core import clock, storage
from converge.patients.addresses import InvalidAddress, normalize_email
from converge.patients.models import ContactPoint
from converge.providers.email import (
    FetchedMail,
    MalformedEmail,
    ParsedEmail,
    conversation_from_message_ids,
    normalize_subject,
    parse_email,
    reply_token_from_addresses,
    to_inbound_message,
)
from converge.providers.types import ChannelKind, DeliveryStatus, InboundAttachment, MalformedPayload, StatusUpdate

log = logging.getLogger(__name__)

SUBJECT_WINDOW = timedelta(days=30)
MAX_FULL_TEXT = 200_000
ORIGINAL_FILENAME = "original.eml"


@dataclass(frozen=True)
class Outcome:
    kind: str  # message, duplicate, bounce, ignored, quarantined
    message_id: int | None = None


# --- files ---------------------------------------------------------------------------------------


def store_blob(*, practice_id: int, data: bytes, area: str = "", suffix: str = "") -> str:
    """Store `data` encrypted under MEDIA_ROOT (writing the same bytes twice is harmless);
    returns the path relative to MEDIA_ROOT."""
    return storage.save_encrypted(practice_id, data, area=area, suffix=suffix, dedupe=True)


# --- threading -----------------------------------------------------------------------------------


def thread_hint(channel: Channel, parsed: ParsedEmail) -> tuple[Conversation | None, str]:
    """The conversation a mail answers, and how it was found: reply token in To/Cc, then our
    Message-IDs in In-Reply-To / References, then the same sender and subject recently."""
    practice_id = channel.practice_id
    token = reply_token_from_addresses(parsed.all_recipients, channel.display_address)
    if token:
        found = EmailReplyToken.objects.filter(practice_id=practice_id, token=token).select_related("conversation")
        row = found.first()
        if row is not None:
            return row.conversation, "token"
    ids = [parsed.in_reply_to or "", *reversed(parsed.references)]
    conversation_uuid = conversation_from_message_ids(ids, domain=channel.display_address.rpartition("@")[2])
    if conversation_uuid:
        conversation = Conversation.objects.filter(practice_id=practice_id, uuid=conversation_uuid).first()
        if conversation is not None:
            return conversation, "message-id"
    subject = parsed.normalized_subject.casefold()
    if not subject:
        return None, ""
    try:
        address = normalize_email(parsed.from_address)
    except InvalidAddress:
        return None, ""
    recent = Message.objects.filter(
        practice_id=practice_id,
        channel__kind=ChannelKind.EMAIL,
        contact_point__address=address,
        contact_point__kind=ChannelKind.EMAIL,
        created_at__gte=clock.now() - SUBJECT_WINDOW,
    ).order_by("-created_at")
    for message in recent.select_related("conversation")[:50]:
        earlier = str((message.metadata or {}).get("subject") or "")
        if earlier and normalize_subject(earlier).casefold() == subject:
            return message.conversation, "subject"
    return None, ""


# --- the three outcomes ----------------------------------------------------------------------------


def quarantine(channel: Channel, mail: FetchedMail, reason: str) -> QuarantinedMail:
    digest = hashlib.sha256(mail.raw).hexdigest()
    existing = QuarantinedMail.objects.filter(channel=channel, raw_sha256=digest).first()
    if existing is not None:
        return existing
    path = store_blob(practice_id=channel.practice_id, area="quarantine", data=mail.raw, suffix=".eml")
    with transaction.atomic():
        row, created = QuarantinedMail.objects.get_or_create(
            channel=channel,
            raw_sha256=digest,
            defaults={
                "practice_id": channel.practice_id,
                "uidvalidity": mail.uidvalidity,
                "uid": mail.uid,
                "reason": reason[:300],
                "raw_size": len(mail.raw),
                "storage_path": path,
                "created_at": clock.now(),
            },
        )
        if created:
            audit_record(
                practice_id=channel.practice_id,
                actor=f"channel:{channel.pk}",
                action="email.quarantine",
                obj=row,
                detail={"uid": mail.uid},
            )
    log.warning("email quarantined channel=%s uid=%s", channel.pk, mail.uid)
    return row


def apply_bounce(channel: Channel, parsed: ParsedEmail) -> Outcome:
    """A delivery failure: the original message fails with the server's words and the address is
    marked failing. A "delayed" report changes nothing: the server is still trying."""
    bounce = parsed.bounce
    assert bounce is not None
    if not bounce.permanent:
        log.info("email delivery delayed channel=%s", channel.pk)
        return Outcome("ignored")
    reason = "Bounced: " + (bounce.diagnostic or f"status {bounce.status or 'unknown'}")
    original: Message | None = None
    if bounce.original_message_id:
        update = StatusUpdate(
            provider_message_id=bounce.original_message_id,
            status=DeliveryStatus.FAILED,
            error_code=(bounce.status or "bounce")[:40],
            error_reason=reason[:300],
        )
        original = message_status_apply(channel=channel, update=update)
    addresses = set(bounce.recipients)
    contacts = ContactPoint.objects.filter(practice_id=channel.practice_id, kind=ChannelKind.EMAIL)
    targets = contacts.filter(address__in=addresses)
    if original is not None and original.contact_point_id:
        targets = targets | contacts.filter(pk=original.contact_point_id)
    now = clock.now()
    with transaction.atomic():
        for contact in targets.select_for_update():
            contact.failing_since = contact.failing_since or now
            contact.failure_reason = reason[:300]
            contact.save(update_fields=["failing_since", "failure_reason"])
            audit_record(
                practice_id=channel.practice_id,
                actor=f"channel:{channel.pk}",
                action="contact.failing",
                obj=contact,
                patient_id=contact.patient_id,
                detail={"status": bounce.status[:20]},
            )
    return Outcome("bounce", original.pk if original is not None else None)


def receive_mail(channel: Channel, config: EmailConfig, mail: FetchedMail) -> Outcome:
    """Store one fetched mail. Raises only for trouble that is not the mail's fault (database)."""
    try:
        parsed = parse_email(mail.raw, max_attachment_bytes=config.max_attachment_bytes)
    except MalformedEmail as exc:
        quarantine(channel, mail, exc.reason)
        return Outcome("quarantined")
    if parsed.bounce is not None:
        return apply_bounce(channel, parsed)
    if parsed.from_address.lower() == config.address:
        # Our own mail delivered back to us (a loop or a copy): never a patient message.
        quarantine(channel, mail, "Sent from this channel's own address.")
        return Outcome("quarantined")
    hint, threaded_by = thread_hint(channel, parsed)
    inbound = to_inbound_message(parsed)
    metadata = dict(inbound.metadata)
    metadata["full_text"] = str(metadata.get("full_text") or "")[:MAX_FULL_TEXT]
    metadata["threaded_by"] = threaded_by
    if hint is not None:
        metadata["thread_conversation_id"] = hint.pk
    original = InboundAttachment(
        content_type="message/rfc822",
        filename=ORIGINAL_FILENAME,
        size=len(mail.raw),
        content=mail.raw,
        sha256=parsed.raw_sha256,
    )
    inbound = replace(
        inbound,
        kind=AUTO_REPLY_KIND if parsed.is_auto_reply else inbound.kind,
        attachments=(*inbound.attachments, original),
        metadata=metadata,
    )
    try:
        received = message_receive(channel=channel, inbound=inbound, conversation_hint=hint)
    except MalformedPayload as exc:
        quarantine(channel, mail, f"The sender cannot be used ({exc}).")
        return Outcome("quarantined")
    contents = {a.sha256: a.content for a in inbound.attachments if a.sha256 and a.content is not None}
    _store_attachments(received.message, contents, parsed)
    return Outcome("message" if received.created else "duplicate", received.message.pk)


def _store_attachments(message: Message, contents: dict[str, bytes], parsed: ParsedEmail) -> None:
    """Write the files of the message's pending attachments and record rejected ones; repeats
    only what an interrupted earlier run did not finish."""
    if message.direction != Direction.INBOUND:
        return
    for attachment in Attachment.objects.filter(message=message, state=Attachment.State.PENDING):
        data = contents.get(attachment.sha256)
        if data is None:
            continue
        attachment.storage_path = store_blob(practice_id=message.practice_id, data=data)
        attachment.state = Attachment.State.STORED
        attachment.save(update_fields=["storage_path", "state"])
    if (
        parsed.rejected_attachments
        and not Attachment.objects.filter(message=message, state=Attachment.State.REJECTED).exists()
    ):
        Attachment.objects.bulk_create(
            Attachment(
                practice_id=message.practice_id,
                message=message,
                filename=rejected.filename[:255],
                content_type=rejected.content_type[:100],
                size=rejected.size,
                state=Attachment.State.REJECTED,
                failure_reason=f"Not accepted: {rejected.reason}"[:300],
            )
            for rejected in parsed.rejected_attachments
        )
