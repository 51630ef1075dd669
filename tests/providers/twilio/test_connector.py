"""The Twilio Connector over a framework-free WebhookRequest: one parse for both webhooks."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from converge.providers.twilio.connector import SIGNATURE_HEADER, TWILIO, status_callback_url
from converge.providers.twilio.protocol import compute_signature
from converge.providers.types import (
    ChannelConfig,
    ChannelKind,
    DeliveryStatus,
    InboundMessage,
    SignatureError,
    StatusUpdate,
    WebhookRequest,
)

FIXTURES = Path(__file__).parent / "fixtures"
BASE = "https://clinic.example"
CHANNEL = ChannelConfig(
    key="k1",
    kind=ChannelKind.SMS,
    credentials={"account_sid": "AC" + "1" * 32, "auth_token": "token"},
    settings={"from_number": "+14155550123"},
    public_base_url=BASE,
)


def request(fixture: str, url: str, *, token: str = "token") -> WebhookRequest:
    form = dict(parse_qsl((FIXTURES / f"{fixture}.txt").read_text().strip(), keep_blank_values=True))
    headers = {SIGNATURE_HEADER.lower(): compute_signature(url, form, token)}
    return WebhookRequest(method="POST", url=url, headers=headers, body=b"", form=form)


def test_a_signed_inbound_webhook_is_one_message():
    webhook = request("inbound_sms", f"{BASE}/webhooks/twilio/k1")
    TWILIO.verify(CHANNEL, webhook)  # the header is found whatever its case
    [event] = TWILIO.parse(CHANNEL, webhook)
    assert isinstance(event, InboundMessage)
    assert event.provider_message_id.startswith("SM")


def test_a_status_callback_carries_the_reference_its_url_was_sent_with():
    url = status_callback_url(CHANNEL, "idem-42")
    assert url == f"{BASE}/webhooks/twilio/k1/status?ref=idem-42"
    [event] = TWILIO.parse(CHANNEL, request("status_delivered", url))
    assert isinstance(event, StatusUpdate)
    assert (event.status, event.reference) == (DeliveryStatus.DELIVERED, "idem-42")


def test_a_request_signed_with_another_token_is_refused():
    with pytest.raises(SignatureError):
        TWILIO.verify(CHANNEL, request("inbound_sms", f"{BASE}/webhooks/twilio/k1", token="other"))
