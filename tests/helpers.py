"""Helpers for tests that use the database (import from Django-enabled tests only)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.test import Client

from converge.connectors.models import Channel
from converge.conversations.inbound.pipeline import Received, message_receive
from converge.practices.models import Practice, Role, StaffMember
from converge.practices.services import staff_create
from converge.providers.simulator.connector import SIGNATURE_HEADER, sign
from converge.providers.types import InboundMessage

PASSWORD = "correct-horse-battery-9"


def make_staff(practice: Practice, name: str = "Maria Lopez", role: str = Role.FRONT_DESK, **kw: Any) -> StaffMember:
    email = kw.pop("email", f"{name.split()[0].lower()}-{uuid.uuid4().hex[:6]}@{practice.slug}.example")
    return staff_create(
        practice=practice, email=email, password=PASSWORD, display_name=name, role=role, validate=False, **kw
    )


def receive(channel: Channel, sender: str, body: str, provider_id: str | None = None, **kw: Any) -> Received:
    return message_receive(
        channel=channel,
        inbound=InboundMessage(
            provider_message_id=provider_id or f"test-{uuid.uuid4()}", sender_address=sender, body=body, **kw
        ),
    )


def signed_simulator_post(client: Client, channel: Channel, payload: dict[str, Any] | bytes) -> Any:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    secret = channel.credentials()["webhook_secret"]
    return client.post(
        f"/webhooks/simulator/{channel.key}",
        data=body,
        content_type="application/json",
        headers={SIGNATURE_HEADER: sign(secret, body)},
    )
