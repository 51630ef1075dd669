"""The simulator Connector: signed JSON in, a private JSON-lines file out, idempotent sends."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from converge.providers.simulator.connector import SIGNATURE_HEADER, SimulatorConnector, read_outbox, sign
from converge.providers.types import (
    ChannelConfig,
    ChannelKind,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    SignatureError,
    WebhookRequest,
)

CHANNEL = ChannelConfig(key="sim1", kind=ChannelKind.SMS, credentials={"webhook_secret": "s" * 32}, settings={})


def webhook(body: bytes, signature: str) -> WebhookRequest:
    return WebhookRequest(
        method="POST", url="http://x/webhooks/simulator/sim1", headers={SIGNATURE_HEADER: signature}, body=body
    )


def test_a_signed_batch_is_verified_and_parsed(tmp_path: Path):
    connector = SimulatorConnector(kind=ChannelKind.SMS, outbox_dir=tmp_path)
    body = json.dumps({"messages": [{"from": "+15552017788", "text": "hi", "id": "m1"}]}).encode()
    connector.verify(CHANNEL, webhook(body, sign("s" * 32, body)))
    assert connector.parse(CHANNEL, webhook(body, "")) == [
        InboundMessage(provider_message_id="m1", sender_address="+15552017788", body="hi")
    ]
    with pytest.raises(SignatureError):
        connector.verify(CHANNEL, webhook(body, sign("t" * 32, body)))


def test_a_retried_send_is_recorded_once_in_a_private_file(tmp_path: Path):
    connector = SimulatorConnector(kind=ChannelKind.SMS, outbox_dir=tmp_path / "simulator")
    message = OutboundMessage(idempotency_key="k1", to_address="+15552017788", body="See you Tuesday")
    first, again = connector.send(CHANNEL, message), connector.send(CHANNEL, message)
    assert first == again
    assert [line["body"] for line in read_outbox(tmp_path / "simulator", "sim1")] == ["See you Tuesday"]
    assert stat.S_IMODE((tmp_path / "simulator" / "sim1.jsonl").stat().st_mode) == 0o600
    with pytest.raises(PermanentSendError):
        connector.send(CHANNEL, OutboundMessage(idempotency_key="k2", to_address="+15550001234", body="x"))
