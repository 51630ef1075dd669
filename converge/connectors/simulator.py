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

from django.conf import settings

from converge.config.env import env_int, private_file
from converge.connectors.types import (
    InboundMessage,
    MalformedPayload,
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
    SignatureError,
    json_document,
)

SIGNATURE_HEADER = "X-Converge-Signature"


def outbox_path(channel_key: str) -> Path:
    directory = Path(settings.DATA_DIR) / "simulator"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return private_file(directory / f"{channel_key}.jsonl")


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class SimulatorConnector:
    def __init__(self, *, channel_key: str, kind: str, webhook_secret: str) -> None:
        self.channel_key = channel_key
        self.kind = kind
        self.webhook_secret = webhook_secret

    def verify(self, raw_body: bytes, signature: str | None) -> None:
        if not signature or not hmac.compare_digest(sign(self.webhook_secret, raw_body), signature):
            raise SignatureError("bad or missing simulator signature")

    def parse(self, raw_body: bytes) -> list[InboundMessage]:
        data = json_document(raw_body, "body is not JSON")
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

    def send(self, message: OutboundMessage) -> ProviderReceipt:
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
        directory = outbox_path(self.channel_key).parent / f"{self.channel_key}.sent"
        directory.mkdir(exist_ok=True, mode=0o700)
        try:
            # O_EXCL makes the idempotency check atomic across worker processes.
            os.close(os.open(directory / provider_id, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return ProviderReceipt(provider_message_id=provider_id)
        with open(outbox_path(self.channel_key), "a", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps(record) + "\n")
        # Test/bench knob: a slow provider that has accepted the message but not yet answered.
        if delay_ms := env_int("CONVERGE_SIMULATOR_DELAY_MS", 0):
            time.sleep(delay_ms / 1000)
        return ProviderReceipt(provider_message_id=provider_id)


def read_outbox(channel_key: str) -> list[dict[str, Any]]:
    path = outbox_path(channel_key)
    if not path.exists():
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
