"""`converge simulate`: a patient message delivered as a provider would deliver it.

The message goes to the running server as a signed simulator webhook (PUBLIC_BASE_URL, or
--server), so it takes the path a real message takes: stored by the server's pipeline and announced
to the staff browsers connected to that server, urgent alert included. Run in this command's own
process instead (--direct), the pipeline's events stay in this process unless REDIS_URL carries
them across, and open browsers only see the message on reload.

Nothing here logs or prints the message text: it may be PHI.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from converge.connectors.models import Channel, Provider
from converge.connectors.registry import simulator_outbox_dir
from converge.conversations.models import Message, Priority
from converge.practices.models import Practice
from converge.providers.simulator.connector import SIGNATURE_HEADER, outbox_path, read_outbox, sign

# How long a channel this command has just created may stay unknown to the server: it caches the
# channel a webhook URL names (converge.connectors.webhook_channels) for this long.
_NEW_CHANNEL_GRACE = 6.0


def simulator_outbox(channel_key: str) -> list[dict[str, Any]]:
    """What the simulator has sent on this channel, oldest first (its "provider side")."""
    return read_outbox(simulator_outbox_dir(), channel_key)


def simulator_outbox_path(channel_key: str) -> Path:
    return outbox_path(simulator_outbox_dir(), channel_key)


class SimulateError(Exception):
    """A delivery that did not happen, worded for the person at the terminal."""


@dataclass(frozen=True)
class Outcome:
    state: str  # "stored" | "duplicate" | "accepted" (queued, not processed within the wait)
    channel: Channel
    via: str  # the webhook URL, or "this process"
    message: Message | None = None


def simulator_channel(practice: Practice, kind: str) -> tuple[Channel, bool]:
    """The practice's enabled simulator channel of this kind, created when it has none; and
    whether it was created now."""
    channels = Channel.objects.filter(practice=practice, provider=Provider.SIMULATOR, kind=kind).order_by("pk")
    channel = channels.filter(enabled=True).first()
    if channel is not None:
        return channel, False
    disabled = channels.first()
    if disabled is not None:
        raise SimulateError(f"--channel: the practice's {disabled.label} channel is disabled")
    from converge.connectors.services import simulator_channel_create

    return simulator_channel_create(practice=practice, kind=kind), True


def webhook_body(*, sender: str, text: str, message_id: str) -> bytes:
    """The JSON the simulator webhook accepts (converge.providers.simulator.connector.SimulatorConnector)."""
    return json.dumps({"from": sender, "text": text, "id": message_id}).encode()


def check_sender(channel: Channel, sender: str) -> None:
    """Refuse here what the webhook would refuse, with the option's name."""
    from converge.patients.addresses import InvalidAddress, normalize_address

    try:
        normalize_address(channel.kind, sender)
    except InvalidAddress as exc:
        raise SimulateError(f"--from: {exc}") from None


def deliver_via_server(
    channel: Channel, *, sender: str, text: str, message_id: str, server: str, created: bool, wait: float
) -> Outcome:
    check_sender(channel, sender)
    existing = _stored(channel, message_id)
    url = f"{server.rstrip('/')}/webhooks/simulator/{channel.key}"
    body = webhook_body(sender=sender, text=text, message_id=message_id)
    counts = _post(url, body, str(channel.credentials().get("webhook_secret", "")), channel, created=created)
    if "accepted" not in counts:
        raise SimulateError(f"the server at {server} answered {counts!r}, not a simulator webhook's counts")
    if existing is not None:  # a redelivery: the server's worker finds it stored and does nothing
        return Outcome("duplicate", channel, url, existing)
    message = _wait_stored(channel, message_id, wait)
    return Outcome("stored" if message is not None else "accepted", channel, url, message)


def deliver_direct(channel: Channel, *, sender: str, text: str, message_id: str) -> Outcome:
    from converge.conversations.inbound.pipeline import message_receive
    from converge.providers.types import InboundMessage, MalformedPayload

    check_sender(channel, sender)
    inbound = InboundMessage(provider_message_id=message_id, sender_address=sender, body=text)
    try:
        received = message_receive(channel=channel, inbound=inbound)
    except MalformedPayload as exc:
        raise SimulateError(f"--from: {exc}") from None
    return Outcome("stored" if received.created else "duplicate", channel, "this process", received.message)


def describe(message: Message) -> str:
    """Where the message went and how it was triaged: no text of it."""
    conversation = message.conversation
    triage = message.metadata.get("classification") or {}
    category = triage.get("category") or conversation.category or "none"
    urgent = bool(triage.get("urgent")) or conversation.priority >= Priority.URGENT
    return (
        f"message {message.pk} in conversation {conversation.pk}, category {category}, "
        f"urgent: {'yes' if urgent else 'no'}"
    )


def _stored(channel: Channel, message_id: str) -> Message | None:
    return (
        Message.objects.select_related("conversation").filter(channel=channel, provider_message_id=message_id).first()
    )


def _wait_stored(channel: Channel, message_id: str, wait: float) -> Message | None:
    """In worker mode the server answers once the message is queued; its worker stores it."""
    deadline = time.monotonic() + wait
    while True:
        message = _stored(channel, message_id)
        if message is not None or time.monotonic() >= deadline:
            return message
        time.sleep(0.1)


def _post(url: str, body: bytes, secret: str, channel: Channel, *, created: bool) -> dict[str, Any]:
    import httpx

    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
    server = url.split("/webhooks/", 1)[0]
    deadline = time.monotonic() + (_NEW_CHANNEL_GRACE if created else 0)
    while True:
        try:
            response = httpx.post(url, content=body, headers=headers, timeout=30)
        except httpx.TransportError as exc:
            raise SimulateError(
                f"no Converge server answered at {server} ({type(exc).__name__}: {exc}). Start one"
                " (`converge serve` or `converge demo`), point this command at it with --server URL or"
                " PUBLIC_BASE_URL, or add --direct to store the message in this process"
            ) from None
        if response.status_code == 404 and time.monotonic() < deadline:
            time.sleep(0.5)  # a channel created just now: the server may have cached its absence
            continue
        break
    same_data = (
        "is this command using the server's database? Run it with the same CONVERGE_DATA_DIR"
        " (or DATABASE_URL) as the server"
    )
    detail = _detail(response)
    if response.status_code == 404:
        raise SimulateError(f"the server at {server} has no simulator channel {channel.key} ({detail}): {same_data}")
    if response.status_code in (401, 403):
        raise SimulateError(
            f"the server at {server} refused the signature for channel {channel.key} ({detail}): its"
            f" webhook secret differs; {same_data}"
        )
    if response.status_code == 400:
        raise SimulateError(f"the server refused the message: {detail}")
    if response.status_code != 200:
        raise SimulateError(f"the server at {server} answered HTTP {response.status_code}: {detail}")
    try:
        counts = response.json()
    except ValueError:
        counts = None
    if not isinstance(counts, dict):
        raise SimulateError(f"{server} answered, but not as a Converge server (is --server / PUBLIC_BASE_URL right?)")
    return counts


def _detail(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason_phrase or "no detail"
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return str(data["detail"])[:300]
    return response.reason_phrase or "no detail"
