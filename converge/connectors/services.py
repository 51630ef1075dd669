"""Writes on channels."""

from __future__ import annotations

import secrets

from django.db import transaction

from converge.audit.services import audit_record
from converge.connectors.models import Channel, Provider, Tier
from converge.connectors.types import ChannelKind
from converge.practices.models import Practice

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
