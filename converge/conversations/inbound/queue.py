"""Inbound messages accepted by webhooks, waiting for the inbound pipeline.

A webhook verifies and validates the whole request, then `inbound_accept` stores its messages as
InboundEvent rows in one INSERT and the webhook answers. The worker claims due rows with a lease
(SKIP LOCKED on PostgreSQL), runs each through `message_receive` and deletes it, so a provider's
burst is acknowledged at the speed of an INSERT and processed as fast as the workers go. A row
whose processing fails stays, with its error, and is retried with backoff: nothing is dropped.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction

from converge.connectors.models import Channel
from converge.conversations.inbound.pipeline import message_receive
from converge.conversations.models import InboundEvent
from converge.conversations.outbox import backoff_delay
from converge.core import clock, rows
from converge.core.metrics import observe_pipeline
from converge.providers.types import InboundAttachment, InboundMessage

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)


def inbound_accept(*, channel: Channel, messages: Sequence[InboundMessage]) -> list[InboundEvent]:
    """Store validated messages for the pipeline, in one INSERT, and wake the worker. All or none:
    a single statement either way."""
    if not messages:
        return []
    now = clock.now()
    queued = [
        InboundEvent(
            practice_id=channel.practice_id,
            channel=channel,
            payload=to_payload(message),
            received_at=now,
            next_attempt_at=now,
        )
        for message in messages
    ]
    # One multi-row INSERT, in autocommit: the hot path of every webhook, where Model.save()'s
    # signals and per-field machinery cost a tenth of the request.
    rows.insert_many(queued)
    from converge.core.worker import wake_worker

    transaction.on_commit(wake_worker)
    return queued


def inbound_take(*, channel: Channel, messages: Sequence[InboundMessage]) -> dict[str, int]:
    """What a webhook does with validated messages: accept them for the worker. Returns the
    counts the webhook answers with."""
    return {"accepted": len(inbound_accept(channel=channel, messages=messages))}


def _process(event: InboundEvent) -> None:
    """Run one accepted message through the pipeline, in its own transaction."""
    try:
        # One transaction stores the message and deletes the row (`queued`).
        received = message_receive(
            channel=event.channel, inbound=from_payload(event.payload), received_at=event.received_at, queued=event
        )
    except Exception as exc:  # any failure: keep the row, retry later
        _record_failure(event, exc)
        return
    if received.created:
        observe_pipeline(event.channel.kind, (clock.now() - event.received_at).total_seconds())


def inbound_process_due(*, limit: int | None = None, worker_id: str = "", stop: threading.Event | None = None) -> int:
    """The worker's step: claim due rows and process them; returns how many were claimed. When
    `stop` is set mid-batch, the row in hand is finished and the rest are released at once.

    Every transaction here starts from a row a webhook committed durably, and a message's
    transaction deletes its row: were a crash to lose one of these commits, the row would simply
    be taken again. So they do not wait for the disk, which was most of a message's latency."""
    with rows.commits_without_waiting_for_disk():
        events = _claim(limit or settings.INBOUND_BATCH_SIZE, worker_id=worker_id)
        for done, event in enumerate(events):
            if stop is not None and stop.is_set():
                rest = [e.pk for e in events[done:]]
                InboundEvent.objects.filter(pk__in=rest, leased_by=worker_id).update(
                    next_attempt_at=clock.now(), leased_by=""
                )
                break
            _process(event)
    return len(events)


def _claim(limit: int, *, worker_id: str = "") -> list[InboundEvent]:
    now = clock.now()
    with transaction.atomic():
        ids = list(
            InboundEvent.objects.filter(next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("id", flat=True)[:limit]
        )
        if not ids:
            return []
        # The lease: other workers see these rows as not due until it runs out, so the rows of a
        # worker that died are taken up again then.
        # A worker that dies is known by its heartbeat (`leased_by`): its rows are released then.
        InboundEvent.objects.filter(id__in=ids).update(next_attempt_at=now + LEASE, leased_by=worker_id)
    return list(InboundEvent.objects.filter(id__in=ids).select_related("channel__practice").order_by("id"))


def _record_failure(event: InboundEvent, exc: Exception) -> None:
    # Ids and the exception type only: the message text is PHI.
    log.error(
        "inbound event %s failed (attempt %s): %s", event.pk, event.attempts + 1, type(exc).__name__, exc_info=False
    )
    attempts = event.attempts + 1
    InboundEvent.objects.filter(pk=event.pk).update(
        attempts=attempts,
        next_attempt_at=clock.now() + timedelta(seconds=backoff_delay(attempts)),
        last_error=f"{type(exc).__name__}"[:300],
        leased_by="",
    )


# --- payload -----------------------------------------------------------------------------------


def to_payload(message: InboundMessage) -> dict[str, Any]:
    return _storable(
        {
            "provider_message_id": message.provider_message_id,
            "sender_address": message.sender_address,
            "body": message.body,
            "sent_at": message.sent_at.isoformat() if message.sent_at else None,
            "sender_name": message.sender_name,
            "kind": message.kind,
            "reply_to_provider_id": message.reply_to_provider_id,
            "metadata": message.metadata,
            "attachments": [
                {
                    "content_type": a.content_type,
                    "filename": a.filename,
                    "size": a.size,
                    "content": base64.b64encode(a.content).decode() if a.content is not None else None,
                    "provider_media_id": a.provider_media_id,
                    "url": a.url,
                    "sha256": a.sha256,
                }
                for a in message.attachments
            ],
        }
    )


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _storable(value: Any) -> Any:
    """Text PostgreSQL can store: no NUL (no patient meant to send one) and no lone UTF-16
    surrogate (JSON may escape one, "\\udb36"; it is not a character) — shown as U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value.replace("\x00", ""))
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


def from_payload(payload: dict[str, Any]) -> InboundMessage:
    return InboundMessage(
        provider_message_id=payload["provider_message_id"],
        sender_address=payload["sender_address"],
        body=payload["body"],
        sent_at=datetime.fromisoformat(payload["sent_at"]) if payload.get("sent_at") else None,
        sender_name=payload.get("sender_name", ""),
        kind=payload.get("kind", "text"),
        reply_to_provider_id=payload.get("reply_to_provider_id"),
        metadata=payload.get("metadata") or {},
        attachments=tuple(
            InboundAttachment(
                content_type=a["content_type"],
                filename=a.get("filename", ""),
                size=a.get("size"),
                content=base64.b64decode(a["content"]) if a.get("content") is not None else None,
                provider_media_id=a.get("provider_media_id"),
                url=a.get("url"),
                sha256=a.get("sha256"),
            )
            for a in payload.get("attachments", ())
        ),
    )
