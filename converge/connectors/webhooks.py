"""WhatsApp Cloud API and Twilio webhooks: the provider's Connector verifies the signature and
parses the whole request, the view validates it against what the database can hold, then hands
each event to the inbound pipeline. Nothing is stored from a request that fails a check: a bad
signature is 401 (missing) or 403 (wrong), a bad body 400.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from dataclasses import replace

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from converge.connectors.models import Channel, Provider
from converge.connectors.registry import channel_config
from converge.connectors.webhook_channels import webhook_channel
from converge.conversations.inbound import message_status_apply
from converge.conversations.inbound_queue import inbound_take
from converge.core.metrics import counts_webhook
from converge.patients.addresses import InvalidAddress, normalize_address
from converge.providers.twilio.connector import SIGNATURE_HEADER as TWILIO_SIGNATURE_HEADER
from converge.providers.twilio.connector import TWILIO
from converge.providers.types import (
    InboundMessage,
    MalformedPayload,
    ProviderEvent,
    SignatureError,
    StatusUpdate,
    WebhookRequest,
)
from converge.providers.whatsapp import protocol as whatsapp
from converge.providers.whatsapp.connector import SIGNATURE_HEADER as WHATSAPP_SIGNATURE_HEADER
from converge.providers.whatsapp.connector import WHATSAPP

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_MAX_ID = 200  # Message.provider_message_id / Attachment.provider_media_id
_MAX_URL = 1000  # Attachment.source_url


def webhook_request(request: HttpRequest, *, with_form: bool = False) -> WebhookRequest:
    body = request.body  # read before request.POST so the raw bytes stay available
    return WebhookRequest(
        method=request.method or "",
        url=public_url(request),
        headers=request.headers,
        body=body,
        form=request.POST if with_form else {},
    )


def _unknown() -> JsonResponse:
    return JsonResponse({"detail": "unknown channel"}, status=404)


def _denied(channel: Channel, provider: str, header: str | None) -> JsonResponse:
    log.warning("%s webhook: bad signature channel=%s present=%s", provider, channel.pk, bool(header))
    if not header:
        return JsonResponse({"detail": "missing signature"}, status=401)
    return JsonResponse({"detail": "bad signature"}, status=403)


def _check_message(channel: Channel, message: InboundMessage, where: str) -> None:
    """What message_receive would refuse, or the database could not hold: refused up front so a
    bad item fails the whole request before anything is stored."""
    if len(message.provider_message_id) > _MAX_ID:
        raise MalformedPayload(f"{where}: message id longer than {_MAX_ID} characters")
    try:
        normalize_address(channel.kind, message.sender_address)
    except InvalidAddress as exc:
        raise MalformedPayload(f"{where}: sender: {exc}") from None
    for attachment in message.attachments:
        if len(attachment.provider_media_id or "") > _MAX_ID or len(attachment.url or "") > _MAX_URL:
            raise MalformedPayload(f"{where}: media reference too long")


# --- WhatsApp Cloud API ------------------------------------------------------------------------


@counts_webhook("whatsapp")
@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest, key: str) -> HttpResponse:
    channel = webhook_channel(key, Provider.META)
    if channel is None:
        return _unknown()
    config = channel_config(channel)
    if request.method == "GET":
        try:
            challenge = whatsapp.verify_subscription(request.GET, str(config.credentials.get("verify_token", "")))
        except SignatureError:
            log.warning("whatsapp webhook: verification refused channel=%s", channel.pk)
            return HttpResponse("verification failed", status=403, content_type="text/plain")
        return HttpResponse(challenge, content_type="text/plain")

    webhook = webhook_request(request)
    try:
        WHATSAPP.verify(config, webhook)
    except SignatureError:
        return _denied(channel, "whatsapp", webhook.header(WHATSAPP_SIGNATURE_HEADER))
    same_app = _SameApp(channel, str(config.credentials.get("app_secret", "")))
    try:
        routed = _whatsapp_route(channel, same_app, WHATSAPP.parse(config, webhook))
    except MalformedPayload as exc:
        log.info("whatsapp webhook: malformed channel=%s", channel.pk)
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse(_store(routed, same_app))


class _SameApp:
    """The other WhatsApp channels set up with this app secret, looked up once, when needed."""

    def __init__(self, channel: Channel, app_secret: str) -> None:
        self.channel, self.app_secret = channel, app_secret
        self._by_number: dict[str, Channel] | None = None

    def by_number(self) -> dict[str, Channel]:
        if self._by_number is None:
            self._by_number = {}
            others = Channel.objects.select_related("practice").filter(provider=Provider.META, enabled=True)
            for other in others.exclude(pk=self.channel.pk):
                secret = str(other.credentials().get("app_secret", ""))
                if secret and hmac.compare_digest(secret.encode(), self.app_secret.encode()):
                    self._by_number[str(other.settings.get("phone_number_id", ""))] = other
        return self._by_number


def _whatsapp_route(
    channel: Channel, same_app: _SameApp, events: list[ProviderEvent]
) -> list[tuple[Channel | None, ProviderEvent]]:
    """Pair each event with the channel it belongs to. One Meta app's webhook serves every number
    of the app, so a message for another number set up here (with the same app secret) goes to
    that number's channel; one for a number not set up here is acknowledged and left alone."""
    own_number = str(channel.settings.get("phone_number_id", ""))
    routed: list[tuple[Channel | None, ProviderEvent]] = []
    for i, event in enumerate(events):
        target: Channel | None = channel
        if isinstance(event, InboundMessage):
            number = str(event.metadata.get("phone_number_id", ""))
            if number and number != own_number:
                target = same_app.by_number().get(number)
            if target is not None:
                _check_message(target, event, f"messages[{i}]")
        elif len(event.provider_message_id) > _MAX_ID:
            raise MalformedPayload(f"statuses[{i}]: message id longer than {_MAX_ID} characters")
        routed.append((target, event))
    return routed


def _store(routed: Iterable[tuple[Channel | None, ProviderEvent]], same_app: _SameApp) -> dict[str, int]:
    counts = {"statuses": 0, "ignored": 0, "accepted": 0}
    messages: dict[int, tuple[Channel, list[InboundMessage]]] = {}
    for target, event in routed:
        if target is None:
            counts["ignored"] += 1
        elif isinstance(event, InboundMessage):
            messages.setdefault(target.pk, (target, []))[1].append(event)
        elif message_status_apply(channel=target, update=event) is not None:
            counts["statuses"] += 1
        else:
            # A status names no phone number id: it may be about another number's message.
            for other in same_app.by_number().values():
                if message_status_apply(channel=other, update=event) is not None:
                    counts["statuses"] += 1
                    break
    for target, batch in messages.values():
        for key, n in inbound_take(channel=target, messages=batch).items():
            counts[key] = counts.get(key, 0) + n
    if counts["ignored"]:
        log.warning("whatsapp webhook: %s messages for numbers not set up here", counts["ignored"])
    return counts


# --- Twilio ------------------------------------------------------------------------------------


def public_url(request: HttpRequest) -> str:
    """The URL Twilio requested, as configured (PUBLIC_BASE_URL): never rebuilt from the Host
    header, which a proxy rewrites and a client can forge."""
    query = request.META.get("QUERY_STRING", "")
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.path_info + (f"?{query}" if query else "")


def _twilio_events(request: HttpRequest, channel: Channel) -> list[ProviderEvent] | HttpResponse:
    """The request's events, or the answer refusing it (bad signature 401/403, bad body 400)."""
    config, webhook = channel_config(channel), webhook_request(request, with_form=True)
    try:
        TWILIO.verify(config, webhook)
    except SignatureError:
        return _denied(channel, "twilio", webhook.header(TWILIO_SIGNATURE_HEADER))
    try:
        return TWILIO.parse(config, webhook)
    except MalformedPayload as exc:
        log.info("twilio webhook: malformed channel=%s", channel.pk)
        return JsonResponse({"detail": str(exc)}, status=400)


@counts_webhook("sms")
@csrf_exempt
@require_POST
def twilio_inbound(request: HttpRequest, key: str) -> HttpResponse:
    channel = webhook_channel(key, Provider.TWILIO)
    if channel is None:
        return _unknown()
    if isinstance(events := _twilio_events(request, channel), HttpResponse):
        return events
    inbound = [event for event in events if isinstance(event, InboundMessage)]
    try:
        for event in inbound:
            _check_message(channel, event, "message")
    except MalformedPayload as exc:
        log.info("twilio webhook: malformed channel=%s", channel.pk)
        return JsonResponse({"detail": str(exc)}, status=400)
    inbound_take(channel=channel, messages=inbound)
    # Empty TwiML: Twilio sends no automatic reply; answers go through the outbox.
    return HttpResponse(EMPTY_TWIML, content_type="text/xml")


@counts_webhook("sms_status")
@csrf_exempt
@require_POST
def twilio_status(request: HttpRequest, key: str) -> HttpResponse:
    channel = webhook_channel(key, Provider.TWILIO)
    if channel is None:
        return _unknown()
    if isinstance(events := _twilio_events(request, channel), HttpResponse):
        return events
    updates = [event for event in events if isinstance(event, StatusUpdate)]
    if any(len(update.provider_message_id) > _MAX_ID for update in updates):
        return JsonResponse({"detail": "MessageSid is too long"}, status=400)
    for update in updates:
        message_status_apply(channel=channel, update=replace(update, reference=update.reference[:_MAX_ID]))
    return HttpResponse(status=204)
