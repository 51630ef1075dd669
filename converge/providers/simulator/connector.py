"""The simulator: a provider for demos and tests that needs no account.

Inbound arrives through `converge simulate` or a signed JSON webhook; outbound is appended to a
JSON-lines file per channel in the data dir (the simulator's "provider side"), and staff see it on
the simulator log page. Sends are idempotent on the message's idempotency key, as a real provider
with idempotency keys would be, so a retried send never shows twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import time
from pathlib import Path
from typing import Any

from converge.providers.types import (
    ChannelConfig,
    ChannelKind,
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    ProviderEvent,
    ProviderReceipt,
    SignatureError,
    WebhookRequest,
    json_document,
)

SIGNATURE_HEADER = "X-Converge-Signature"


def outbox_path(outbox_dir: Path, channel_key: str) -> Path:
    """The channel's JSON-lines file of sent messages, created private (0600, in a 0700 folder)."""
    outbox_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = outbox_dir / f"{channel_key}.jsonl"
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
    return path


def read_outbox(outbox_dir: Path, channel_key: str) -> list[dict[str, Any]]:
    path = outbox_dir / f"{channel_key}.jsonl"
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SimulatorConnector:
    """Speaks for a channel of any kind: `kind` is the kind of channel it simulates. A channel's
    credentials keep its `webhook_secret`."""

    def __init__(self, *, kind: ChannelKind, outbox_dir: Path, delay_ms: int = 0) -> None:
        self.kind = kind
        self.outbox_dir = outbox_dir
        # Test/bench knob: a slow provider that has accepted the message but not yet answered.
        self.delay_ms = delay_ms

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        secret = str(channel.credentials.get("webhook_secret", ""))
        signature = request.header(SIGNATURE_HEADER)
        if not signature or not hmac.compare_digest(sign(secret, request.body), signature):
            raise SignatureError("bad or missing simulator signature")

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> list[ProviderEvent]:
        data = json_document(request.body, "body is not JSON")
        if not isinstance(data, dict):
            raise MalformedPayload("body must be a JSON object")
        items = data.get("messages", [data])
        if not isinstance(items, list) or not items:
            raise MalformedPayload("messages must be a non-empty list")
        return [self._parse_one(item, i) for i, item in enumerate(items)]

    @staticmethod
    def _parse_one(item: Any, index: int) -> InboundMessage:
        if not isinstance(item, dict):
            raise MalformedPayload(f"messages[{index}] must be an object")
        sender, text, message_id = item.get("from"), item.get("text"), item.get("id")
        if not isinstance(sender, str) or not sender.strip():
            raise MalformedPayload(f"messages[{index}].from is required")
        if not isinstance(text, str):
            raise MalformedPayload(f"messages[{index}].text is required")
        if len(text) > 10_000:
            raise MalformedPayload(f"messages[{index}].text is longer than 10000 characters")
        if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > 200:
            raise MalformedPayload(f"messages[{index}].id is required (at most 200 characters)")
        name = item.get("name", "")
        return InboundMessage(
            provider_message_id=message_id,
            sender_address=sender,
            body=text,
            sender_name=name if isinstance(name, str) else "",
            reply_to_provider_id=item.get("reply_to") if isinstance(item.get("reply_to"), str) else None,
        )

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ProviderReceipt:
        if message.to_address.startswith("+1555000"):
            # Reserved numbers let demos and tests show a permanent provider failure.
            raise PermanentSendError("simulated: number is not reachable", code="sim-unreachable")
        provider_id = f"sim-{message.idempotency_key}"
        record = {
            "id": provider_id,
            "to": message.to_address,
            "kind": message.kind,
            "body": message.body,
            "buttons": [b.title for b in message.buttons],
        }
        outbox = outbox_path(self.outbox_dir, channel.key)
        directory = self.outbox_dir / f"{channel.key}.sent"
        directory.mkdir(exist_ok=True, mode=0o700)
        try:
            # O_EXCL makes the idempotency check atomic across worker processes.
            os.close(os.open(directory / provider_id, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return ProviderReceipt(provider_message_id=provider_id)
        with open(outbox, "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(record) + "\n")
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000)
        return ProviderReceipt(provider_message_id=provider_id)
