"""Webhook endpoints: verify, parse, hand off to the inbound pipeline, answer quickly."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from converge.connectors.models import Provider
from converge.connectors.registry import channel_config, simulator_connector
from converge.connectors.webhook_channels import webhook_channel
from converge.connectors.webhooks import webhook_request
from converge.conversations.inbound_queue import inbound_take
from converge.core.metrics import counts_webhook
from converge.patients.addresses import InvalidAddress, normalize_address
from converge.providers.types import InboundMessage, MalformedPayload, SignatureError

log = logging.getLogger(__name__)


@counts_webhook("simulator")
@csrf_exempt
@require_POST
def simulator_webhook(request: HttpRequest, key: str) -> HttpResponse:
    channel = webhook_channel(key, Provider.SIMULATOR)
    if channel is None:
        return JsonResponse({"detail": "unknown channel"}, status=404)
    connector, config, webhook = simulator_connector(channel), channel_config(channel), webhook_request(request)
    try:
        connector.verify(config, webhook)
    except SignatureError:
        log.warning("simulator webhook: bad signature channel=%s", channel.pk)
        return JsonResponse({"detail": "bad signature"}, status=401)
    try:
        inbound = [event for event in connector.parse(config, webhook) if isinstance(event, InboundMessage)]
        # Validate every message before storing any, so a bad batch stores nothing.
        for i, item in enumerate(inbound):
            try:
                normalize_address(channel.kind, item.sender_address)
            except InvalidAddress as exc:
                raise MalformedPayload(f"messages[{i}].from: {exc}") from None
    except MalformedPayload as exc:
        return JsonResponse({"detail": str(exc)}, status=400)
    return JsonResponse(inbound_take(channel=channel, messages=inbound))
