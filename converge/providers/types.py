"""Neutral types that every provider's connector translates its protocol to and from, and the
Connector protocol itself.

Connectors do no database writes: they verify and parse inbound requests into these types and
send `OutboundMessage`s, raising `RetryableSendError`, `AmbiguousSendError` or
`PermanentSendError` on failure.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit


class ChannelKind(enum.StrEnum):
    SMS = "sms"
    WHATSAPP = "whatsapp"
    EMAIL = "email"
    WEBCHAT = "webchat"
    PORTAL = "portal"


class DeliveryStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    RECEIVED = "received"


# The failure_code of an outbound message whose send was ambiguous (AmbiguousSendError): while
# its status is `sending` it is held, unleased, waiting for the provider's status callback (not
# resent); when no callback came in time it is `failed` with this code ("may not have been
# delivered"), for staff to retry or not.
UNCONFIRMED = "unconfirmed"

# Statuses only move forward along this order; FAILED may replace any non-final status.
STATUS_RANK: dict[str, int] = {
    DeliveryStatus.QUEUED: 0,
    DeliveryStatus.SENDING: 1,
    DeliveryStatus.SENT: 2,
    DeliveryStatus.DELIVERED: 3,
    DeliveryStatus.READ: 4,
}


@dataclass(frozen=True)
class InboundAttachment:
    content_type: str
    filename: str = ""
    size: int | None = None
    # Exactly one way to obtain the bytes: inline content, a provider media id, or a URL.
    content: bytes | None = None
    provider_media_id: str | None = None
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A message a patient sent us."""

    provider_message_id: str
    sender_address: str  # phone (any format, normalised later), email, or webchat visitor token
    body: str
    sent_at: datetime | None = None
    sender_name: str = ""
    kind: str = "text"  # text, image, audio, video, document, sticker, location, ...
    attachments: tuple[InboundAttachment, ...] = ()
    reply_to_provider_id: str | None = None  # the provider id of the message this answers
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's report about a message we sent."""

    provider_message_id: str
    status: DeliveryStatus
    at: datetime | None = None
    error_code: str = ""
    error_reason: str = ""
    recipient_opted_out: bool = False
    # Our own reference the provider echoed back (the OutboundMessage's idempotency_key: Twilio's
    # StatusCallback URL query, WhatsApp's biz_opaque_callback_data): it names the message when
    # its provider id is not known to us (the send's answer never arrived).
    reference: str = ""


# What a provider's request tells us: messages a patient sent, and statuses of ones we sent.
ProviderEvent = InboundMessage | StatusUpdate


@dataclass(frozen=True)
class OutboundButton:
    id: str
    title: str


@dataclass(frozen=True)
class OutboundMedia:
    url: str
    content_type: str
    filename: str = ""


@dataclass(frozen=True)
class OutboundMessage:
    idempotency_key: str
    to_address: str
    body: str
    kind: str = "text"  # text, template, interactive, media
    template_name: str = ""
    template_language: str = ""
    template_params: tuple[str, ...] = ()
    buttons: tuple[OutboundButton, ...] = ()
    media: tuple[OutboundMedia, ...] = ()
    # Channel-specific extras, e.g. email subject, message-id, in-reply-to, reply-to address.
    metadata: dict[str, Any] = field(default_factory=dict)


def with_queued_media(message: OutboundMessage) -> OutboundMessage:
    """The message with its media: media queued through the outbox travels in
    metadata["media"] as {url, content_type, filename}."""
    items = message.metadata.get("media") if not message.media else None
    if not isinstance(items, list):
        return message
    media = tuple(
        OutboundMedia(
            url=str(item.get("url", "")),
            content_type=str(item.get("content_type", "")),
            filename=str(item.get("filename", "")),
        )
        for item in items
        if isinstance(item, dict)
    )
    return replace(message, media=media)


@dataclass(frozen=True)
class ProviderReceipt:
    provider_message_id: str
    status: DeliveryStatus = DeliveryStatus.SENT
    segments: int | None = None


class SendError(Exception):
    def __init__(self, reason: str, *, code: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


class RetryableSendError(SendError):
    """Worth trying again later (rate limit, 5xx, timeout)."""

    def __init__(self, reason: str, *, code: str = "", retry_after: float | None = None) -> None:
        super().__init__(reason, code=code)
        self.retry_after = retry_after


class AmbiguousSendError(RetryableSendError):
    """The request reached the provider but its answer never came (a read timeout, the connection
    reset after the request was written): the provider may have accepted it. Not to be resent
    until the provider's status callback or an age rule says what happened."""


class PermanentSendError(SendError):
    """Will never succeed as is (bad address, opted out, expired credentials)."""

    def __init__(self, reason: str, *, code: str = "", recipient_opted_out: bool = False) -> None:
        super().__init__(reason, code=code)
        self.recipient_opted_out = recipient_opted_out


class SignatureError(Exception):
    """The request is not from the provider it claims to be; answer 401/403 and store nothing."""


class MalformedPayload(ValueError):
    """The request is authentic-looking but cannot be parsed; answer 400 and store nothing."""


def json_document(raw_body: bytes, problem: str) -> Any:
    """The JSON in a provider's request body, or MalformedPayload(problem): for bytes that are not
    UTF-8 or not JSON, and for nesting too deep to decode (the decoder's RecursionError)."""
    try:
        return json.loads(raw_body)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise MalformedPayload(problem) from None


# Form fields as a provider posts them; a repeated name holds a sequence (Django's QueryDict fits).
Params = Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class WebhookRequest:
    """What a connector reads of a provider's HTTP request, free of any web framework."""

    method: str
    # The public URL the provider requested (the configured base URL + path + query), never one
    # rebuilt from the Host header: signatures cover it.
    url: str
    headers: Mapping[str, str]
    body: bytes
    form: Params = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """A header's value, its name matched without regard to case."""
        if (value := self.headers.get(name)) is not None:
            return value
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def query(self) -> dict[str, str]:
        """The URL's query parameters (the last value of a repeated one)."""
        return dict(parse_qsl(urlsplit(self.url).query, keep_blank_values=True))


@dataclass(frozen=True)
class ChannelConfig:
    """What a connector needs to know of one configured channel."""

    key: str
    kind: ChannelKind
    credentials: Mapping[str, Any]  # decrypted: tokens, secrets
    settings: Mapping[str, Any]  # account and number identifiers, API base URLs
    public_base_url: str = ""  # where this installation's webhooks are reachable


class Connector(Protocol):
    """One provider's protocol. Stateless: the channel it works for is passed to every call."""

    kind: ChannelKind

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        """Raise SignatureError unless the request comes from the provider."""

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> list[ProviderEvent]:
        """Every event in the request, or MalformedPayload for the whole request."""

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ProviderReceipt:
        """Raise RetryableSendError, AmbiguousSendError or PermanentSendError when not sent."""


class Sender(Protocol):
    """A connector bound to one channel: what the outbox calls."""

    def send(self, message: OutboundMessage) -> ProviderReceipt: ...
