"""The WhatsApp Cloud API and Twilio connectors bound to a configured Channel: where its
credentials and identifiers live, and the senders the outbox calls.

A WhatsApp channel keeps `access_token`, `app_secret` and `verify_token` in its encrypted
credentials and `phone_number_id` (plus optional `api_base_url`, `api_version`) in its settings.
A Twilio channel keeps `account_sid` and `auth_token` in its credentials and `from_number` or
`messaging_service_sid` (plus optional `api_base_url`) in its settings.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from urllib.parse import urlencode

import httpx
from django.conf import settings

from converge.connectors.models import Channel
from converge.connectors.twilio_sms import TwilioClient
from converge.connectors.types import (
    OutboundMedia,
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
)
from converge.connectors.whatsapp import MAX_INTERACTIVE_BODY, WhatsAppClient

GRAPH_API = "https://graph.facebook.com"
GRAPH_API_VERSION = "v21.0"
TWILIO_API = "https://api.twilio.com"
HTTP_TIMEOUT_SECONDS = 10.0

_http: httpx.Client | None = None
_http_lock = threading.Lock()


def http_client() -> httpx.Client:
    """One connection pool per process for provider calls (httpx.Client is thread-safe)."""
    global _http
    with _http_lock:
        if _http is None:
            _http = httpx.Client(limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))
        return _http


def whatsapp_client(channel: Channel) -> WhatsAppClient:
    credentials = channel.credentials()
    return WhatsAppClient(
        str(channel.settings.get("phone_number_id", "")),
        str(credentials.get("access_token", "")),
        api_base_url=str(channel.settings.get("api_base_url") or GRAPH_API),
        api_version=str(channel.settings.get("api_version") or GRAPH_API_VERSION),
        http=http_client(),
        timeout=HTTP_TIMEOUT_SECONDS,
    )


def twilio_client(channel: Channel) -> TwilioClient:
    credentials = channel.credentials()
    return TwilioClient(
        str(credentials.get("account_sid", "")),
        str(credentials.get("auth_token", "")),
        from_number=channel.settings.get("from_number") or None,
        messaging_service_sid=channel.settings.get("messaging_service_sid") or None,
        api_base_url=str(channel.settings.get("api_base_url") or TWILIO_API),
        http=http_client(),
        timeout=HTTP_TIMEOUT_SECONDS,
    )


STATUS_REFERENCE_PARAM = "ref"


def twilio_status_callback_url(channel: Channel, reference: str = "") -> str:
    """The status webhook URL; `reference` (our message's idempotency key) rides in its query so
    a callback names the message even when the send's answer, with the SID, was lost."""
    url = f"{settings.PUBLIC_BASE_URL.rstrip('/')}/webhooks/twilio/{channel.key}/status"
    return f"{url}?{urlencode({STATUS_REFERENCE_PARAM: reference})}" if reference else url


def _with_media(message: OutboundMessage) -> OutboundMessage:
    """Media queued through the outbox travels in metadata["media"] as {url, content_type, filename}."""
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


class WhatsAppSender:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        message = _with_media(message)
        if message.kind == "text" and message.buttons and len(message.body) <= MAX_INTERACTIVE_BODY:
            # A text with quick answers (a waitlist offer's "Take it") goes out as reply buttons.
            message = replace(message, kind="interactive")
        try:
            client = whatsapp_client(self.channel)
            return client.send(message)
        except ValueError as exc:
            # The message can never be sent as written: no point retrying it.
            raise PermanentSendError(f"WhatsApp would refuse this message: {exc}", code="invalid") from None


class TwilioSender:
    def __init__(self, channel: Channel) -> None:
        self.channel = channel

    def send(self, message: OutboundMessage) -> ProviderReceipt:
        message = _with_media(message)
        try:
            client = twilio_client(self.channel)
            callback = twilio_status_callback_url(self.channel, message.idempotency_key)
            return client.send(message, status_callback=callback)
        except ValueError as exc:
            raise PermanentSendError(f"Twilio would refuse this message: {exc}", code="invalid") from None
