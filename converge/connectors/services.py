"""Writes on channels."""

from __future__ import annotations

import secrets

from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel, Provider, Tier
from converge.core import crypto
from converge.practices.models import Practice
from converge.providers.types import ChannelKind

SIMULATOR_NAMES = {
    ChannelKind.SMS: "SMS",
    ChannelKind.WHATSAPP: "WhatsApp",
    ChannelKind.EMAIL: "Email",
    ChannelKind.WEBCHAT: "Website chat",
}


def simulator_channel_create(*, practice: Practice, kind: str) -> Channel:
    with transaction.atomic():
        channel = Channel(
            practice=practice,
            kind=kind,
            provider=Provider.SIMULATOR,
            name=SIMULATOR_NAMES.get(ChannelKind(kind), kind),
            display_address="simulator",
            tier=Tier.STANDARD,
        )
        channel.set_credentials({"webhook_secret": secrets.token_urlsafe(32)})
        channel.save()
        audit_record(
            practice_id=practice.id,
            actor=None,
            action="channel.create",
            obj=channel,
            detail={"kind": kind},
        )
    return channel


def channel_credentials_rotate() -> int:
    """Re-encrypt every channel's credentials with the newest key (`converge privacy rotate`);
    returns how many channels had some."""
    channels = 0
    for channel in Channel.objects.exclude(credentials_encrypted=""):
        Channel.objects.filter(pk=channel.pk).update(credentials_encrypted=crypto.rotate(channel.credentials_encrypted))
        channels += 1
    return channels
