"""The WhatsApp Cloud API as a Connector.

A WhatsApp channel keeps `access_token`, `app_secret` and `verify_token` in its credentials and
`phone_number_id` (plus optional `api_base_url`, `api_version`) in its settings.
"""

from __future__ import annotations

from dataclasses import replace

from converge.providers import http as provider_http
from converge.providers.types import (
    ChannelConfig,
    ChannelKind,
    InboundMessage,
    OutboundMessage,
    PermanentSendError,
    ProviderEvent,
    ProviderReceipt,
    WebhookRequest,
    with_queued_media,
)
from converge.providers.whatsapp.protocol import (
    MAX_INTERACTIVE_BODY,
    WhatsAppClient,
    parse_notification,
    verify_signature,
)

GRAPH_API = "https://graph.facebook.com"
GRAPH_API_VERSION = "v21.0"
SIGNATURE_HEADER = "X-Hub-Signature-256"


def whatsapp_client(channel: ChannelConfig) -> WhatsAppClient:
    return WhatsAppClient(
        str(channel.settings.get("phone_number_id", "")),
        str(channel.credentials.get("access_token", "")),
        api_base_url=str(channel.settings.get("api_base_url") or GRAPH_API),
        api_version=str(channel.settings.get("api_version") or GRAPH_API_VERSION),
        http=provider_http.shared_client(),
        timeout=provider_http.TIMEOUT_SECONDS,
    )


class WhatsAppConnector:
    kind = ChannelKind.WHATSAPP

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        app_secret = str(channel.credentials.get("app_secret", ""))
        verify_signature(request.body, request.header(SIGNATURE_HEADER), app_secret)

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> list[ProviderEvent]:
        return [_threaded(event) for event in parse_notification(request.body)]

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ProviderReceipt:
        message = with_queued_media(message)
        if message.kind == "text" and message.buttons and len(message.body) <= MAX_INTERACTIVE_BODY:
            # A text with quick answers (a waitlist offer's "Take it") goes out as reply buttons.
            message = replace(message, kind="interactive")
        try:
            return whatsapp_client(channel).send(message)
        except ValueError as exc:
            # The message can never be sent as written: no point retrying it.
            raise PermanentSendError(f"WhatsApp would refuse this message: {exc}", code="invalid") from None


def _threaded(event: ProviderEvent) -> ProviderEvent:
    """A reaction threads under the message it reacts to."""
    if isinstance(event, InboundMessage) and event.kind == "reaction" and not event.reply_to_provider_id:
        return replace(event, reply_to_provider_id=event.metadata.get("message_id") or None)
    return event


WHATSAPP = WhatsAppConnector()
