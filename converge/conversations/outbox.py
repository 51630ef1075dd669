"""The outbox worker: claim due outbound messages, send them, record the outcome.

The Message row is the record: a claim sets a lease; a worker that dies leaves the lease to
expire and another worker claims the row again. Claims use SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL so workers never wait on each other; on SQLite the write lock serialises claims.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from converge.audit.services import audit_record
from converge.connectors.policy import send_refusal
from converge.connectors.ratelimit import throttle_claim
from converge.connectors.registry import sender_for
from converge.connectors.types import (
    DeliveryStatus,
    OutboundButton,
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
    RetryableSendError,
)
from converge.conversations import hooks
from converge.conversations.models import Message
from converge.core import clock, events
from converge.patients.models import ContactPoint

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0


def backoff_delay(attempts: int, retry_after: float | None = None) -> float:
    """Exponential backoff with full jitter; a provider's Retry-After is a floor."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** max(0, attempts - 1)))
    delay = random.uniform(ceiling / 2, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, BACKOFF_CAP_SECONDS))
    return delay


def outbox_claim(*, limit: int, worker_id: str = "") -> tuple[list[int], str]:
    now = clock.now()
    token = uuid.uuid4().hex
    with transaction.atomic():
        due = (
            Message.objects.filter(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING], next_attempt_at__lte=now)
            .filter(Q(status=DeliveryStatus.QUEUED) | Q(lease_expires_at__lt=now))
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
        )
        # Rows over their channel's send rate stay queued, rescheduled for when it has room.
        ids = throttle_claim(list(due.values_list("id", "channel_id")[:limit]), now=now)
        if ids:
            Message.objects.filter(id__in=ids).update(
                status=DeliveryStatus.SENDING,
                lease_token=token,
                lease_expires_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS),
                leased_by=worker_id,
                attempts=F("attempts") + 1,
            )
    return ids, token


def outbox_dispatch_batch(*, limit: int | None = None, worker_id: str = "", stop: threading.Event | None = None) -> int:
    """Claim and send one batch; returns how many messages were handled. When `stop` is set
    mid-batch, the send in hand is finished and the untried rest go back to the queue at once."""
    ids, token = outbox_claim(limit=limit or settings.OUTBOX_BATCH_SIZE, worker_id=worker_id)
    if not ids:
        return 0
    messages = list(
        Message.objects.filter(id__in=ids, lease_token=token).select_related("channel", "contact_point").order_by("id")
    )
    for done, message in enumerate(messages):
        if stop is not None and stop.is_set():
            outbox_release([m.pk for m in messages[done:]], token)
            break
        _send_one(message, token)
    return len(ids)


def outbox_release(ids: list[int], token: str) -> int:
    """Claimed messages that were never tried go back to the queue, due now, the claim undone."""
    return Message.objects.filter(id__in=ids, lease_token=token, status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.QUEUED,
        lease_token="",
        lease_expires_at=None,
        leased_by="",
        attempts=F("attempts") - 1,
    )


def to_outbound(message: Message) -> OutboundMessage:
    metadata = dict(message.metadata or {})
    return OutboundMessage(
        idempotency_key=str(message.idempotency_key),
        # A staff page (STAFF_PAGE_KIND) has no patient contact point: its number is in metadata.
        to_address=message.contact_point.address if message.contact_point else str(metadata.get("to_address", "")),
        body=message.body,
        kind=message.kind,
        template_name=metadata.get("template_name", ""),
        template_language=metadata.get("template_language", ""),
        template_params=tuple(metadata.get("template_params", ())),
        buttons=tuple(OutboundButton(id=b["id"], title=b["title"]) for b in metadata.get("buttons", ())),
        metadata=metadata,
    )


def _send_one(message: Message, token: str) -> None:
    contact = message.contact_point
    if refusal := send_refusal(message):  # opt-out, WhatsApp's 24-hour window
        _record_failure(message, token, code=refusal.code, reason=refusal.reason, permanent=True)
        return
    try:
        receipt = sender_for(message.channel).send(to_outbound(message))
    except RetryableSendError as exc:
        _record_failure(
            message,
            token,
            code=exc.code,
            reason=exc.reason,
            permanent=False,
            retry_after=exc.retry_after,
        )
    except PermanentSendError as exc:
        _record_failure(message, token, code=exc.code, reason=exc.reason, permanent=True)
        if exc.recipient_opted_out and contact is not None:
            ContactPoint.objects.filter(pk=contact.pk, opted_out_at__isnull=True).update(opted_out_at=clock.now())
    except Exception as exc:  # a connector bug must not kill the worker; retry like a transient error
        log.exception("send crashed message=%s", message.pk)
        _record_failure(
            message,
            token,
            code="internal",
            reason=f"internal error ({type(exc).__name__})",
            permanent=False,
        )
    else:
        _record_sent(message, token, receipt)


def _record_sent(message: Message, token: str, receipt: ProviderReceipt) -> None:
    now = clock.now()
    with transaction.atomic():
        updated = Message.objects.filter(pk=message.pk, lease_token=token, status=DeliveryStatus.SENDING).update(
            status=receipt.status if receipt.status != DeliveryStatus.QUEUED else DeliveryStatus.SENT,
            provider_message_id=receipt.provider_message_id,
            sent_at=now,
            segments=receipt.segments,
            lease_token="",
            lease_expires_at=None,
            leased_by="",
            next_attempt_at=None,
            failure_code="",
            failure_reason="",
        )
        if not updated:
            log.warning("lease lost before recording send message=%s", message.pk)
            return
        audit_record(
            practice_id=message.practice_id,
            actor=None,
            action="message.sent",
            obj=message,
            patient_id=message.patient_id,
        )
        message.status, message.sent_at = DeliveryStatus.SENT, now
        hooks.run_after_outcome(message)
        _publish_status(message, DeliveryStatus.SENT)


def _record_failure(
    message: Message,
    token: str,
    *,
    code: str,
    reason: str,
    permanent: bool,
    retry_after: float | None = None,
) -> None:
    now = clock.now()
    attempts = Message.objects.filter(pk=message.pk).values_list("attempts", flat=True).first() or 0
    give_up = permanent or attempts >= settings.OUTBOX_MAX_ATTEMPTS
    with transaction.atomic():
        if give_up:
            final_reason = reason if permanent else f"{reason} (gave up after {attempts} attempts)"
            updated = Message.objects.filter(pk=message.pk, lease_token=token, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.FAILED,
                failure_code=code[:40],
                failure_reason=final_reason[:300],
                lease_token="",
                lease_expires_at=None,
                leased_by="",
                next_attempt_at=None,
            )
        else:
            updated = Message.objects.filter(pk=message.pk, lease_token=token, status=DeliveryStatus.SENDING).update(
                status=DeliveryStatus.QUEUED,
                failure_code=code[:40],
                failure_reason=reason[:300],
                lease_token="",
                lease_expires_at=None,
                leased_by="",
                next_attempt_at=now + timedelta(seconds=backoff_delay(attempts, retry_after)),
            )
        if updated and give_up:
            audit_record(
                practice_id=message.practice_id,
                actor=None,
                action="message.failed",
                obj=message,
                patient_id=message.patient_id,
                detail={"code": code[:40]},
            )
            message.status, message.failure_code, message.failure_reason = (
                DeliveryStatus.FAILED,
                code[:40],
                final_reason[:300],
            )
            hooks.run_after_outcome(message)
            _publish_status(message, DeliveryStatus.FAILED)


def _publish_status(message: Message, status: str) -> None:
    events.publish_on_commit(
        [events.practice_group(message.practice_id)],
        {
            "type": "message.status",
            "conversation_id": message.conversation_id,
            "message_id": message.pk,
            "status": status,
        },
    )
