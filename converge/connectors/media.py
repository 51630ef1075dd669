"""Downloading the media patients send on WhatsApp and MMS.

The inbound pipeline stores an Attachment row as `pending` (webhooks must answer quickly); this
worker job fetches it from the provider — within the size and type limits below, through the
clients' SSRF guards — into MEDIA_ROOT/<practice id>/<sha256> and marks it `stored`, `rejected`
(too large, a type we do not accept) or `failed` (the provider no longer has it, or it kept
failing for MEDIA_RETRY_WINDOW), always with a reason staff can read. A transient failure leaves
it pending for the next run.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from django.db import transaction

from converge.connectors.models import Provider
from converge.connectors.registry import channel_config
from converge.conversations.models import Attachment
from converge.core import clock, events, storage
from converge.providers.twilio.connector import twilio_client
from converge.providers.types import PermanentSendError, RetryableSendError
from converge.providers.whatsapp.connector import whatsapp_client

log = logging.getLogger(__name__)

# WhatsApp allows up to 16 MB for audio/video and 100 MB for documents; Twilio MMS 5 MB. A
# practice inbox does not need more than this per file.
MEDIA_MAX_BYTES = 16 * 1024 * 1024
# What staff browsers may safely open. Deliberately no SVG (scriptable), HTML or executables.
MEDIA_ALLOWED_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/heic",
        "image/heif",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "audio/wav",
        "video/mp4",
        "video/3gpp",
        "video/quicktime",
        "application/pdf",
        "text/plain",
        "text/vcard",
        "text/x-vcard",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    }
)
MEDIA_RETRY_WINDOW = timedelta(hours=6)
MEDIA_BATCH = 20
_PERMANENT_REJECTIONS = frozenset({"media_too_large", "media_type_not_allowed", "media_host_not_allowed"})


def attachments_fetch_pending(*, limit: int = MEDIA_BATCH) -> int:
    """Fetch up to `limit` pending provider attachments, oldest first; returns how many were
    settled (stored, rejected or failed)."""
    pending = Attachment.objects.filter(
        state=Attachment.State.PENDING,
        message__channel__provider__in=[Provider.META, Provider.TWILIO],
    ).select_related("message__channel")
    # First-time downloads go before retries, so a provider outage cannot starve new media.
    batch = list(pending.filter(failure_reason="").order_by("created_at", "id")[:limit])
    if len(batch) < limit:
        batch += list(pending.exclude(failure_reason="").order_by("created_at", "id")[: limit - len(batch)])
    settled = 0
    for attachment in batch:
        settled += _fetch_one(attachment)
    return settled


def _fetch_one(attachment: Attachment) -> int:
    channel = attachment.message.channel
    try:
        if channel.provider == Provider.META and attachment.provider_media_id:
            content, content_type = whatsapp_client(channel_config(channel)).fetch_media(
                attachment.provider_media_id, max_bytes=MEDIA_MAX_BYTES, allowed_types=MEDIA_ALLOWED_TYPES
            )
        elif channel.provider == Provider.TWILIO and attachment.source_url:
            content, content_type = twilio_client(channel_config(channel)).fetch_media(
                attachment.source_url, max_bytes=MEDIA_MAX_BYTES, allowed_types=MEDIA_ALLOWED_TYPES
            )
        else:
            return _settle(attachment, Attachment.State.FAILED, "The provider gave no way to download this file")
    except RetryableSendError as exc:
        if clock.now() - attachment.created_at < MEDIA_RETRY_WINDOW:
            Attachment.objects.filter(pk=attachment.pk, state=Attachment.State.PENDING).update(
                failure_reason=f"Will retry: {exc.reason}"[:300]
            )
            return 0
        return _settle(attachment, Attachment.State.FAILED, f"Gave up downloading: {exc.reason}")
    except PermanentSendError as exc:
        state = Attachment.State.REJECTED if exc.code in _PERMANENT_REJECTIONS else Attachment.State.FAILED
        return _settle(attachment, state, exc.reason)
    except ValueError:
        return _settle(attachment, Attachment.State.FAILED, "The provider's reference to this file is not valid")
    sha256 = hashlib.sha256(content).hexdigest()
    relative = storage.save_encrypted(attachment.practice_id, content, dedupe=True)
    return _settle(
        attachment,
        Attachment.State.STORED,
        "",
        sha256=sha256,
        size=len(content),
        content_type=content_type[:100],
        storage_path=relative,
    )


def _settle(attachment: Attachment, state: str, reason: str, **fields: object) -> int:
    with transaction.atomic():
        updated = Attachment.objects.filter(pk=attachment.pk, state=Attachment.State.PENDING).update(
            state=state, failure_reason=reason[:300], **fields
        )
        if updated:
            events.publish_on_commit(
                [events.practice_group(attachment.practice_id)],
                {
                    "type": "attachment.updated",
                    "conversation_id": attachment.message.conversation_id,
                    "message_id": attachment.message_id,
                    "attachment_id": attachment.pk,
                    "state": state,
                },
            )
    if updated:
        log.info("attachment %s state=%s", attachment.pk, state)
    return updated
