"""Retention: messages past a practice's retention periods are purged (with their attachment
files), and the audit log's oldest rows past the installation's retention are removed from the
front of the chain behind a checkpoint."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction

from converge.audit.services import audit_purge_before, audit_record
from converge.config.env import env_int
from converge.conversations.models import Attachment, Message
from converge.core import clock
from converge.privacy.models import PrivacySettings

log = logging.getLogger(__name__)


def purge_messages() -> int:
    now = clock.now()
    total = 0
    for policy in PrivacySettings.objects.exclude(message_retention_days=0, automatic_message_retention_days=0):
        for automatic, days in (
            (False, policy.message_retention_days),
            (True, policy.automatic_message_retention_days),
        ):
            if not days:
                continue
            old = Message.objects.filter(
                practice_id=policy.practice_id, is_automatic=automatic, created_at__lt=now - timedelta(days=days)
            ).exclude(status__in=["queued", "sending"])
            with transaction.atomic():
                paths = list(
                    Attachment.objects.filter(message__in=old)
                    .exclude(storage_path="")
                    .values_list("storage_path", flat=True)
                )
                count, _ = old.delete()
                audit_record(
                    practice_id=policy.practice_id,
                    actor=None,
                    action="retention.purge_messages",
                    detail={"automatic": automatic, "days": days, "rows": count},
                )
            # Files are shared by identical content: only remove those nothing else points at.
            still_used = set(Attachment.objects.filter(storage_path__in=paths).values_list("storage_path", flat=True))
            for relative in set(paths) - still_used:
                (Path(settings.MEDIA_ROOT) / relative).unlink(missing_ok=True)
            total += count
    return total


def purge_audit() -> int:
    days = env_int("CONVERGE_AUDIT_RETENTION_DAYS", 6 * 365, minimum=365)
    return audit_purge_before(cutoff=clock.now() - timedelta(days=days))
