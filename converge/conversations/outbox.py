"""The outbox worker: claim due outbound messages, send them, record the outcome.

The Message row is the record: a claim sets a lease; a worker that dies leaves the lease to
expire and another worker claims the row again. Claims use SELECT ... FOR UPDATE SKIP LOCKED on
PostgreSQL so workers never wait on each other; on SQLite the write lock serialises claims.

Exactly once, as far as the providers allow (neither has idempotency keys):
- Right before each provider call the worker renews its lease in one conditional UPDATE (its
  token, its worker id, not expired): a worker whose lease is gone does not send.
- A failure before the request was written (DNS, refused, connect timeout) is retried as usual.
  One after (a read timeout, the connection lost while waiting: AmbiguousSendError) may have
  been accepted: the message is held, `sending` with failure_code UNCONFIRMED and no lease, and
  is not resent. The provider's status callback, which carries our reference (the idempotency
  key), confirms it (conversations.inbound.pipeline); when none comes within OUTBOX_CONFIRM_SECONDS it is
  failed "may not have been delivered", and staff decide whether to retry.
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
from converge.conversations.models import Message
from converge.core import clock, events
from converge.core.metrics import count_send
from converge.patients.models import ContactPoint
from converge.providers.types import (
    UNCONFIRMED,
    AmbiguousSendError,
    DeliveryStatus,
    OutboundButton,
    OutboundMessage,
    PermanentSendError,
    ProviderReceipt,
    RetryableSendError,
)
from converge.routing.oncall import page_outcome

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


def outcome_react(message: Message) -> None:
    """What follows a send's recorded outcome (`message.status`: sent, delivered or failed for good),
    in the transaction that records it: an on-call page that failed pages the next person."""
    page_outcome(message)


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
        _send_one(message, token, worker_id)
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


def _lease_still_ours(message: Message, token: str, worker_id: str) -> bool:
    """Renew this worker's lease for the send about to be made, in one conditional UPDATE: False
    when the lease is gone (expired, taken by another worker, released as a dead worker's)."""
    now = clock.now()
    return bool(
        Message.objects.filter(
            pk=message.pk,
            lease_token=token,
            leased_by=worker_id,
            status=DeliveryStatus.SENDING,
            lease_expires_at__gt=now,
        ).update(lease_expires_at=now + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS))
    )


def _send_one(message: Message, token: str, worker_id: str = "") -> str:
    """Send one claimed message; returns the outcome (sent, retry, failed, unconfirmed, lease_lost)."""
    contact = message.contact_point
    if refusal := send_refusal(message):  # opt-out, WhatsApp's 24-hour window
        _record_failure(message, token, code=refusal.code, reason=refusal.reason, permanent=True)
        return "failed"
    if not _lease_still_ours(message, token, worker_id):
        log.warning("lease lost before sending, skipped message=%s", message.pk)
        count_send(message.channel.kind, "lease_lost")
        return "lease_lost"
    try:
        receipt = sender_for(message.channel).send(to_outbound(message))
    except AmbiguousSendError as exc:
        _record_unconfirmed(message, token, code=exc.code, reason=exc.reason)
        return "unconfirmed"
    except RetryableSendError as exc:
        _record_failure(
            message,
            token,
            code=exc.code,
            reason=exc.reason,
            permanent=False,
            retry_after=exc.retry_after,
        )
        return "retry"
    except PermanentSendError as exc:
        _record_failure(message, token, code=exc.code, reason=exc.reason, permanent=True)
        if exc.recipient_opted_out and contact is not None:
            ContactPoint.objects.filter(pk=contact.pk, opted_out_at__isnull=True).update(opted_out_at=clock.now())
        return "failed"
    except Exception as exc:  # a connector bug must not kill the worker; retry like a transient error
        log.exception("send crashed message=%s", message.pk)
        _record_failure(
            message,
            token,
            code="internal",
            reason=f"internal error ({type(exc).__name__})",
            permanent=False,
        )
        return "retry"
    _record_sent(message, token, receipt)
    return "sent"


UNCONFIRMED_WAITING = "Sent to the provider, which has not confirmed it yet ({reason})"
UNCONFIRMED_EXPIRED = "May not have been delivered: the provider never confirmed it"


def _record_unconfirmed(message: Message, token: str, *, code: str, reason: str) -> None:
    """Hold an ambiguously sent message: `sending`, unleased, not due (outbox_claim takes only
    rows whose lease has expired, and this one has none) until the provider's status callback
    confirms it or OUTBOX_CONFIRM_SECONDS pass (outbox_expire_unconfirmed)."""
    deadline = clock.now() + timedelta(seconds=settings.OUTBOX_CONFIRM_SECONDS)
    updated = Message.objects.filter(pk=message.pk, lease_token=token, status=DeliveryStatus.SENDING).update(
        failure_code=UNCONFIRMED,
        failure_reason=UNCONFIRMED_WAITING.format(reason=f"{code or 'no answer'}")[:300],
        lease_token="",
        lease_expires_at=None,
        leased_by="",
        next_attempt_at=deadline,
    )
    if updated:
        log.warning("send unconfirmed (%s), held for the provider's callback message=%s", code, message.pk)
        _publish_status(message, DeliveryStatus.SENDING)


def outbox_expire_unconfirmed() -> int:
    """Fail the held messages no status callback confirmed in time, for staff to review."""
    now = clock.now()
    expired = 0
    due = Message.objects.filter(
        status=DeliveryStatus.SENDING, failure_code=UNCONFIRMED, lease_token="", next_attempt_at__lte=now
    ).order_by("id")
    for message in due[:500]:
        with transaction.atomic():
            if not Message.objects.filter(
                pk=message.pk, status=DeliveryStatus.SENDING, failure_code=UNCONFIRMED, lease_token=""
            ).update(status=DeliveryStatus.FAILED, failure_reason=UNCONFIRMED_EXPIRED, next_attempt_at=None):
                continue  # confirmed meanwhile
            audit_record(
                practice_id=message.practice_id,
                actor=None,
                action="message.failed",
                obj=message,
                patient_id=message.patient_id,
                detail={"code": UNCONFIRMED},
            )
            message.status, message.failure_reason = DeliveryStatus.FAILED, UNCONFIRMED_EXPIRED
            outcome_react(message)
            _publish_status(message, DeliveryStatus.FAILED)
            expired += 1
    if expired:
        log.warning("%s unconfirmed sends were never confirmed by the provider: failed for review", expired)
    return expired


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
            confirmed = Message.objects.filter(pk=message.pk, provider_message_id=receipt.provider_message_id)
            if not confirmed.exists():  # else: its status callback came first and recorded it
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
        outcome_react(message)
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
            outcome_react(message)
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
