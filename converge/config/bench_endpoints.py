"""The bound bench/ingest.py compares the inbound path with, mounted only when
CONVERGE_BENCH_ENDPOINTS=1: the same server stack doing, per request, only the writes a patient
message needs — check the webhook's HMAC, parse its JSON, and in one transaction INSERT the
message, UPDATE its conversation and INSERT the audit row. No queue, no identification, no
triage, no routing: what is left when everything Converge adds is taken away."""

from __future__ import annotations

import hmac
import json

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from converge.audit.services import audit_record
from converge.connectors.models import Channel
from converge.conversations.models import Conversation, Direction, Message
from converge.core import clock
from converge.providers.simulator.connector import SIGNATURE_HEADER, sign
from converge.providers.types import DeliveryStatus

_secrets: dict[str, tuple[Channel, str]] = {}


def _channel(key: str) -> tuple[Channel, str]:
    if key not in _secrets:
        channel = Channel.objects.select_related("practice").get(key=key)
        _secrets[key] = (channel, channel.credentials()["webhook_secret"])
    return _secrets[key]


@csrf_exempt
@require_POST
def three_writes(request: HttpRequest, key: str) -> JsonResponse:
    channel, secret = _channel(key)
    signature = request.headers.get(SIGNATURE_HEADER, "")
    if not hmac.compare_digest(sign(secret, request.body), signature):
        return JsonResponse({"error": "bad signature"}, status=401)
    item = json.loads(request.body)
    now = clock.now()
    with transaction.atomic():
        message = Message.objects.create(
            practice_id=channel.practice_id,
            conversation_id=item["conversation"],
            patient_id=item["patient"],
            channel=channel,
            direction=Direction.INBOUND,
            body=item["text"],
            status=DeliveryStatus.RECEIVED,
            provider_message_id=item["id"],
            created_at=now,
        )
        Conversation.objects.filter(pk=item["conversation"]).update(
            last_message_at=now, last_inbound_at=now, updated_at=now
        )
        audit_record(
            practice_id=channel.practice_id,
            actor=f"channel:{channel.pk}",
            action="message.receive",
            obj=message,
            patient_id=item["patient"],
        )
    return JsonResponse({"stored": 1})


urlpatterns = [path("bench/three-writes/<str:key>", three_writes)]
