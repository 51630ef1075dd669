"""The WhatsApp Connector over a framework-free WebhookRequest."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pytest

from converge.providers.types import ChannelConfig, ChannelKind, InboundMessage, SignatureError, WebhookRequest
from converge.providers.whatsapp.connector import SIGNATURE_HEADER, WHATSAPP

FIXTURES = Path(__file__).parent / "fixtures"
CHANNEL = ChannelConfig(
    key="k1",
    kind=ChannelKind.WHATSAPP,
    credentials={"app_secret": "app-secret", "access_token": "t"},
    settings={"phone_number_id": "123"},
)


def request(fixture: str, secret: str = "app-secret") -> WebhookRequest:
    body = (FIXTURES / f"{fixture}.json").read_bytes()
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return WebhookRequest(
        method="POST",
        url="https://clinic.example/webhooks/whatsapp/k1",
        headers={SIGNATURE_HEADER: signature},
        body=body,
    )


def test_a_reaction_threads_under_the_message_it_reacts_to():
    webhook = request("reaction")
    WHATSAPP.verify(CHANNEL, webhook)
    [event] = WHATSAPP.parse(CHANNEL, webhook)
    assert isinstance(event, InboundMessage)
    assert event.kind == "reaction"
    assert event.reply_to_provider_id == event.metadata["message_id"]


def test_a_body_signed_with_another_app_secret_is_refused():
    with pytest.raises(SignatureError):
        WHATSAPP.verify(CHANNEL, request("text", secret="another"))
