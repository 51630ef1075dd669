"""Delivering content through the secure portal: the content is a message on the practice's
portal channel; the patient gets a neutral notice with a single-use link on their usual channel."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel, Provider, Tier
from converge.conversations.models import Conversation, Message
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.practices.models import StaffMember
from converge.privacy.guard import privacy_settings_read
from converge.privacy.models import PortalLink
from converge.privacy.notices import portal_invitation_text, secure_notice_text
from converge.providers.types import ChannelKind, OutboundMessage, ProviderReceipt


class PortalSender:
    """The portal needs no provider: a message is there as soon as it is stored."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        return ProviderReceipt(provider_message_id=f"portal-{message.idempotency_key}")


def portal_channel(practice_id: int) -> Channel:
    channel = Channel.objects.filter(practice_id=practice_id, kind=ChannelKind.PORTAL).first()
    if channel is None:
        channel = Channel.objects.create(
            practice_id=practice_id,
            kind=ChannelKind.PORTAL,
            provider=Provider.PORTAL,
            name="Secure portal",
            tier=Tier.SECURE,
        )
    return channel


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def portal_link_create(*, patient: Patient, conversation: Conversation) -> str:
    """A new single-use link; returns the URL (the token is not stored, only its hash)."""
    token = secrets.token_urlsafe(24)
    minutes = privacy_settings_read(patient.practice_id).portal_link_minutes
    now = clock.now()
    PortalLink.objects.create(
        practice_id=patient.practice_id,
        patient=patient,
        conversation=conversation,
        token_hash=token_hash(token),
        expires_at=now + timedelta(minutes=minutes),
        created_at=now,
    )
    return f"{settings.PUBLIC_BASE_URL}/portal/t/{token}"


def send_via_portal(
    *,
    conversation: Conversation,
    standard_channel: Channel,
    body: str,
    sender: StaffMember | None,
    is_automatic: bool,
    contact: ContactPoint | None,
    invitation: bool = False,
) -> Message:
    """Store `body` as a secure portal message and queue a PHI-free notice on the standard channel.
    Returns the portal message."""
    from converge.conversations.services import message_queue

    patient = conversation.patient
    with transaction.atomic():
        secure = message_queue(
            conversation=conversation,
            channel=portal_channel(conversation.practice_id),
            body=body,
            sender=sender,
            is_automatic=is_automatic,
        )
        link = portal_link_create(patient=patient, conversation=conversation)
        text = (portal_invitation_text if invitation else secure_notice_text)(
            patient.language, patient.practice.name, link
        )
        message_queue(
            conversation=conversation,
            channel=standard_channel,
            body=text,
            sender=None,
            is_automatic=True,
            contact=contact,
            metadata={"portal_notice_for": secure.pk},
        )
        audit_record(
            practice_id=conversation.practice_id,
            actor=sender,
            action="phi.converted_to_portal",
            obj=secure,
            patient_id=patient.pk,
        )
    return secure
