"""Handing back the inbound rows and outbox messages a worker claimed (`leased_by`), for
core.heartbeat: those of dead workers on every beat, a stopping worker's own at its exit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet

from converge.conversations.models import InboundEvent, Message
from converge.providers.types import DeliveryStatus


def inbound_release_dead(live: QuerySet[Any], now: datetime) -> int:
    return (
        InboundEvent.objects.exclude(leased_by="").exclude(leased_by__in=live).update(next_attempt_at=now, leased_by="")
    )


def inbound_release_own(worker_id: str, now: datetime) -> int:
    return InboundEvent.objects.filter(leased_by=worker_id).update(next_attempt_at=now, leased_by="")


def outbox_release_dead(live: QuerySet[Any], now: datetime) -> int:
    # Expiring the lease is all a claim needs to be taken again (outbox_claim); status, token and
    # attempts stay as the dead worker left them.
    return (
        Message.objects.filter(status=DeliveryStatus.SENDING, lease_expires_at__gt=now)
        .exclude(leased_by="")
        .exclude(leased_by__in=live)
        .update(lease_expires_at=now, leased_by="")
    )


def outbox_release_own(worker_id: str, now: datetime) -> int:
    return Message.objects.filter(leased_by=worker_id, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.QUEUED,
        lease_token="",
        lease_expires_at=None,
        leased_by="",
        attempts=F("attempts") - 1,  # claimed, never tried
    )
