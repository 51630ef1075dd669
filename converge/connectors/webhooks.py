"""Every provider's webhook is one view over the Connector protocol (converge.providers): find the
channel the URL names, let its connector verify the signature and parse the whole request,
validate every event against what the database can hold, then hand the messages to the inbound
queue and apply the delivery statuses. Nothing is stored from a request that fails a check: a
missing signature is 401, a wrong one 403, a bad body 400.

What differs between providers is data, in ENDPOINTS: which connector, whether the body is a form,
how the provider wants to be answered, the WhatsApp subscription handshake on GET, and WhatsApp's
one-app-many-numbers routing.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from converge.connectors.models import Channel, Provider
from converge.connectors.registry import channel_config, connector_for, simulator_connector
from converge.connectors.webhook_channels import webhook_channel
from converge.conversations.inbound.pipeline import message_status_apply
from converge.conversations.inbound.queue import inbound_take
from converge.core.metrics import counts_webhook
from converge.patients.addresses import InvalidAddress, normalize_address
from converge.providers.simulator.connector import SIGNATURE_HEADER as SIMULATOR_SIGNATURE_HEADER
from converge.providers.twilio.connector import SIGNATURE_HEADER as TWILIO_SIGNATURE_HEADER
from converge.providers.types import (
    ChannelConfig,
    Connector,
    InboundMessage,
    MalformedPayload,
    ProviderEvent,
    SignatureError,
    StatusUpdate,
    WebhookRequest,
)
from converge.providers.whatsapp import protocol as whatsapp
from converge.providers.whatsapp.connector import SIGNATURE_HEADER as WHATSAPP_SIGNATURE_HEADER

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_MAX_ID = 200  # Message.provider_message_id / Attachment.provider_media_id
_MAX_URL = 1000  # Attachment.source_url


@dataclass
class Routed:
    """A request's events, each with the channel it is for (None: a number not set up here, to be
    acknowledged and left alone), and where else a status may belong."""

    events: list[tuple[Channel | None, ProviderEvent]]
    status_elsewhere: Callable[[], Iterable[Channel]] = field(default=lambda: ())


Router = Callable[[Channel, ChannelConfig, list[ProviderEvent]], Routed]
Handshake = Callable[[HttpRequest, Channel, ChannelConfig], HttpResponse]


def _own_channel(channel: Channel, config: ChannelConfig, events: list[ProviderEvent]) -> Routed:
    return Routed([(channel, event) for event in events])


@dataclass(frozen=True)
class Endpoint:
    """One provider's webhook URL: what the view needs to know of the provider."""

    provider: str  # the Provider a URL's channel key must belong to
    metric: str  # converge_webhooks_total's channel label
    signature_header: str
    answer: Callable[[list[ProviderEvent], dict[str, int]], HttpResponse]  # the events, what was done
    connector: Callable[[Channel], Connector | None] = connector_for
    with_form: bool = False  # the body is a form (Twilio), read into WebhookRequest.form
    route: Router = _own_channel
    handshake: Handshake | None = None  # what a GET is for, if anything


# --- the view ----------------------------------------------------------------------------------


def webhook_view(endpoint: Endpoint) -> Callable[..., HttpResponse]:
    """The view serving `endpoint`'s URL."""

    @counts_webhook(endpoint.metric)
    @csrf_exempt
    def view(request: HttpRequest, key: str) -> HttpResponse:
        allowed = ["GET", "POST"] if endpoint.handshake else ["POST"]
        if request.method not in allowed:
            return HttpResponseNotAllowed(allowed)
        channel = webhook_channel(key, endpoint.provider)
        connector = endpoint.connector(channel) if channel is not None else None
        if channel is None or connector is None:
            return JsonResponse({"detail": "unknown channel"}, status=404)
        config = channel_config(channel)
        if request.method == "GET" and endpoint.handshake is not None:
            return endpoint.handshake(request, channel, config)
        body = webhook_request(request, with_form=endpoint.with_form)
        try:
            connector.verify(config, body)
        except SignatureError:
            present = bool(body.header(endpoint.signature_header))
            log.warning("%s webhook: bad signature channel=%s present=%s", endpoint.metric, channel.pk, present)
            if not present:
                return JsonResponse({"detail": "missing signature"}, status=401)
            return JsonResponse({"detail": "bad signature"}, status=403)
        try:
            routed = endpoint.route(channel, config, connector.parse(config, body))
            checked = [(target, _checked(target, event, i)) for i, (target, event) in enumerate(routed.events)]
        except MalformedPayload as exc:
            log.info("%s webhook: malformed channel=%s", endpoint.metric, channel.pk)
            return JsonResponse({"detail": str(exc)}, status=400)
        counts = _store(checked, routed.status_elsewhere)
        if counts["ignored"]:
            log.warning("%s webhook: %s messages for numbers not set up here", endpoint.metric, counts["ignored"])
        return endpoint.answer([event for _, event in checked], counts)

    return view


def webhook_request(request: HttpRequest, *, with_form: bool = False) -> WebhookRequest:
    body = request.body  # read before request.POST so the raw bytes stay available
    return WebhookRequest(
        method=request.method or "",
        url=public_url(request),
        headers=request.headers,
        body=body,
        form=request.POST if with_form else {},
    )


def public_url(request: HttpRequest) -> str:
    """The URL the provider requested, as configured (PUBLIC_BASE_URL): never rebuilt from the
    Host header, which a proxy rewrites and a client can forge (Twilio signs the URL)."""
    query = request.META.get("QUERY_STRING", "")
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.path_info + (f"?{query}" if query else "")


def _checked(channel: Channel | None, event: ProviderEvent, index: int) -> ProviderEvent:
    """The event, if message_receive would take it and the database can hold it: refused up front
    (MalformedPayload), so one bad item fails the whole request before anything is stored."""
    if isinstance(event, StatusUpdate):
        if len(event.provider_message_id) > _MAX_ID:
            raise MalformedPayload(f"statuses[{index}]: message id longer than {_MAX_ID} characters")
        return replace(event, reference=event.reference[:_MAX_ID])
    where = f"messages[{index}]"
    if len(event.provider_message_id) > _MAX_ID:
        raise MalformedPayload(f"{where}: message id longer than {_MAX_ID} characters")
    if channel is not None:
        try:
            normalize_address(channel.kind, event.sender_address)
        except InvalidAddress as exc:
            raise MalformedPayload(f"{where}: sender: {exc}") from None
    for attachment in event.attachments:
        if len(attachment.provider_media_id or "") > _MAX_ID or len(attachment.url or "") > _MAX_URL:
            raise MalformedPayload(f"{where}: media reference too long")
    return event


def _store(
    routed: Iterable[tuple[Channel | None, ProviderEvent]], status_elsewhere: Callable[[], Iterable[Channel]]
) -> dict[str, int]:
    counts = {"statuses": 0, "ignored": 0, "accepted": 0}
    messages: dict[int, tuple[Channel, list[InboundMessage]]] = {}
    for target, event in routed:
        if target is None:
            counts["ignored"] += 1
        elif isinstance(event, InboundMessage):
            messages.setdefault(target.pk, (target, []))[1].append(event)
        elif message_status_apply(channel=target, update=event) is not None or any(
            message_status_apply(channel=other, update=event) is not None for other in status_elsewhere()
        ):
            counts["statuses"] += 1
    for target, batch in messages.values():
        for key, n in inbound_take(channel=target, messages=batch).items():
            counts[key] = counts.get(key, 0) + n
    return counts


# --- what differs ------------------------------------------------------------------------------


def _counts(events: list[ProviderEvent], counts: dict[str, int]) -> HttpResponse:
    return JsonResponse(counts)


def _accepted(events: list[ProviderEvent], counts: dict[str, int]) -> HttpResponse:
    return JsonResponse({"accepted": counts["accepted"]})


def _twiml(events: list[ProviderEvent], counts: dict[str, int]) -> HttpResponse:
    """Twilio: empty TwiML to a message (no automatic reply; answers go through the outbox), no
    content to a status callback."""
    if any(isinstance(event, InboundMessage) for event in events):
        return HttpResponse(EMPTY_TWIML, content_type="text/xml")
    return HttpResponse(status=204)


def _whatsapp_subscription(request: HttpRequest, channel: Channel, config: ChannelConfig) -> HttpResponse:
    """Meta's GET when the webhook is set up: echo the challenge if the verify token matches."""
    try:
        challenge = whatsapp.verify_subscription(request.GET, str(config.credentials.get("verify_token", "")))
    except SignatureError:
        log.warning("whatsapp webhook: verification refused channel=%s", channel.pk)
        return HttpResponse("verification failed", status=403, content_type="text/plain")
    return HttpResponse(challenge, content_type="text/plain")


def _whatsapp_numbers(channel: Channel, config: ChannelConfig, events: list[ProviderEvent]) -> Routed:
    """One Meta app's webhook serves every number of the app, so a message for another number set
    up here (with the same app secret) goes to that number's channel; one for a number not set up
    here is acknowledged and left alone. A status names no number: it may be another's."""
    same_app = _SameApp(channel, str(config.credentials.get("app_secret", "")))
    own_number = str(channel.settings.get("phone_number_id", ""))
    routed: list[tuple[Channel | None, ProviderEvent]] = []
    for event in events:
        target: Channel | None = channel
        if isinstance(event, InboundMessage):
            number = str(event.metadata.get("phone_number_id", ""))
            if number and number != own_number:
                target = same_app.by_number().get(number)
        routed.append((target, event))
    return Routed(routed, status_elsewhere=lambda: same_app.by_number().values())


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


WHATSAPP = Endpoint(
    provider=Provider.META,
    metric="whatsapp",
    signature_header=WHATSAPP_SIGNATURE_HEADER,
    answer=_counts,
    route=_whatsapp_numbers,
    handshake=_whatsapp_subscription,
)
TWILIO = Endpoint(
    provider=Provider.TWILIO, metric="sms", signature_header=TWILIO_SIGNATURE_HEADER, answer=_twiml, with_form=True
)
# The URL each sent message names for its delivery statuses (providers.twilio.connector).
TWILIO_STATUS = replace(TWILIO, metric="sms_status")
SIMULATOR = Endpoint(
    provider=Provider.SIMULATOR,
    metric="simulator",
    signature_header=SIMULATOR_SIGNATURE_HEADER,
    answer=_accepted,
    connector=simulator_connector,
)
