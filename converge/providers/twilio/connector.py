"""Twilio Programmable Messaging (SMS/MMS) as a Connector.

A Twilio channel keeps `account_sid` and `auth_token` in its credentials and `from_number` or
`messaging_service_sid` (plus optional `api_base_url`) in its settings. Twilio posts inbound
messages to the channel's webhook URL and status callbacks to that URL + "/status".
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlencode, urlsplit

from converge.providers import http as provider_http
from converge.providers.twilio.protocol import TwilioClient, parse_inbound, parse_status, validate_signature
from converge.providers.types import (
    ChannelConfig,
    ChannelKind,
    OutboundMessage,
    PermanentSendError,
    ProviderEvent,
    ProviderReceipt,
    WebhookRequest,
    with_queued_media,
)

TWILIO_API = "https://api.twilio.com"
SIGNATURE_HEADER = "X-Twilio-Signature"
STATUS_REFERENCE_PARAM = "ref"


def twilio_client(channel: ChannelConfig) -> TwilioClient:
    return TwilioClient(
        str(channel.credentials.get("account_sid", "")),
        str(channel.credentials.get("auth_token", "")),
        from_number=channel.settings.get("from_number") or None,
        messaging_service_sid=channel.settings.get("messaging_service_sid") or None,
        api_base_url=str(channel.settings.get("api_base_url") or TWILIO_API),
        http=provider_http.shared_client(),
        timeout=provider_http.TIMEOUT_SECONDS,
    )


def status_callback_url(channel: ChannelConfig, reference: str = "") -> str:
    """The status webhook URL; `reference` (our message's idempotency key) rides in its query so
    a callback names the message even when the send's answer, with the SID, was lost."""
    url = f"{channel.public_base_url.rstrip('/')}/webhooks/twilio/{channel.key}/status"
    return f"{url}?{urlencode({STATUS_REFERENCE_PARAM: reference})}" if reference else url


def is_status_callback(request: WebhookRequest) -> bool:
    return urlsplit(request.url).path.rstrip("/").endswith("/status")


class TwilioConnector:
    kind = ChannelKind.SMS

    def verify(self, channel: ChannelConfig, request: WebhookRequest) -> None:
        token = str(channel.credentials.get("auth_token", ""))
        header = request.header(SIGNATURE_HEADER)
        validate_signature(request.url, request.form, header, token, raw_body=request.body)

    def parse(self, channel: ChannelConfig, request: WebhookRequest) -> list[ProviderEvent]:
        if not is_status_callback(request):
            return [parse_inbound(request.form)]
        # Our message's reference, put in the StatusCallback URL when it was sent (and covered by
        # the signature, which signs the whole URL).
        reference = request.query.get(STATUS_REFERENCE_PARAM, "")
        return [replace(parse_status(request.form), reference=reference)]

    def send(self, channel: ChannelConfig, message: OutboundMessage) -> ProviderReceipt:
        message = with_queued_media(message)
        try:
            callback = status_callback_url(channel, message.idempotency_key)
            return twilio_client(channel).send(message, status_callback=callback)
        except ValueError as exc:
            raise PermanentSendError(f"Twilio would refuse this message: {exc}", code="invalid") from None


TWILIO = TwilioConnector()
