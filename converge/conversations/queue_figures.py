"""How far behind the worker's two queues are, for /readyz and /metrics: counts and times only,
across every practice (operations figures, not a staff member's read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from converge.conversations.models import InboundEvent, Message
from converge.providers.types import DeliveryStatus


@dataclass(frozen=True)
class InboundQueue:
    queued: int  # accepted patient messages not yet stored
    oldest_received_at: datetime | None


@dataclass(frozen=True)
class Outbox:
    waiting: int  # queued, not being sent
    sending: int
    oldest_due_at: datetime | None  # of those due by now


def inbound_queue() -> InboundQueue:
    row = InboundEvent.objects.aggregate(queued=Count("id"), oldest=Min("received_at"))
    return InboundQueue(queued=row["queued"], oldest_received_at=row["oldest"])


def outbox(now: datetime) -> Outbox:
    row = Message.objects.filter(
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING], next_attempt_at__isnull=False
    ).aggregate(
        n=Count("id"),
        sending=Count("id", filter=Q(status=DeliveryStatus.SENDING)),
        oldest_due=Min("next_attempt_at", filter=Q(next_attempt_at__lte=now)),
    )
    return Outbox(waiting=row["n"] - row["sending"], sending=row["sending"], oldest_due_at=row["oldest_due"])
