"""Outbound mail for mailbox channels: SMTP with TLS, threading headers read from the database.

The outbox hands over an `OutboundMessage`; the mail's threading facts come from the Message row
it names (by idempotency key), so queuing a reply needs nothing email-specific:

- Message-ID `<conv-<conversation uuid>.<message id>@<domain>>`, the same on every retry; it is
  the provider id the outbox records, and what a bounce names to fail the message;
- In-Reply-To / References: the patient's last mail in the conversation;
- Reply-To `<local>+<token>@<domain>` with the conversation's token (created on first use);
- Subject "Re: <the patient's subject>", else the message's own subject, else one naming the
  practice; Auto-Submitted on automatic messages (reminders), so auto-responders stay quiet.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.db import IntegrityError, transaction

from converge.connectors.email_channels import email_config, smtp_for
from converge.connectors.models import Channel, EmailReplyToken
from converge.conversations.models import Conversation, Direction, Message
from converge.core import clock
from converge.providers.email import make_reply_token
from converge.providers.types import ChannelKind, OutboundMessage, PermanentSendError, ProviderReceipt


def reply_token_for(conversation: Conversation) -> str:
    """The conversation's reply token, created once."""
    row = EmailReplyToken.objects.filter(conversation=conversation).first()
    if row is not None:
        return row.token
    try:
        with transaction.atomic():
            row = EmailReplyToken.objects.create(
                practice_id=conversation.practice_id,
                conversation=conversation,
                token=make_reply_token(),
                created_at=clock.now(),
            )
    except IntegrityError:  # another worker created it first
        row = EmailReplyToken.objects.get(conversation=conversation)
    return row.token


def email_metadata(message: Message) -> dict[str, Any]:
    """The compose_email metadata for an outbound message on an email channel."""
    conversation = message.conversation
    last_mail = (
        Message.objects.filter(
            conversation=conversation,
            direction=Direction.INBOUND,
            channel__kind=ChannelKind.EMAIL,
            created_at__lte=message.created_at,
        )
        .order_by("-created_at", "-pk")
        .first()
    )
    metadata: dict[str, Any] = {
        "conversation_uuid": str(conversation.uuid),
        "message_pk": message.pk,
        "reply_token": reply_token_for(conversation),
        "automatic": message.is_automatic,
    }
    own_subject = str((message.metadata or {}).get("subject") or "")
    if last_mail is not None:
        mail = last_mail.metadata or {}
        subject = str(mail.get("normalized_subject") or mail.get("subject") or "")
        if subject:
            metadata["subject"] = f"Re: {subject}"
        mail_id = mail.get("message_id")
        if mail_id:
            metadata["in_reply_to"] = mail_id
            metadata["references"] = [*list(mail.get("references") or [])[-19:], mail_id]
    if "subject" not in metadata:
        metadata["subject"] = own_subject or f"Message from {message.channel.practice.name}"
    return metadata


class MailboxSender:
    """The registered sender for Provider.MAILBOX channels."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        row = (
            Message.objects.select_related("conversation", "channel__practice")
            .filter(idempotency_key=message.idempotency_key, channel=self.channel)
            .first()
        )
        if row is None:
            raise PermanentSendError("The message to send was not found.", code="internal")
        metadata = {**message.metadata, **email_metadata(row)}
        return smtp_for(email_config(self.channel)).send(replace(message, metadata=metadata))
