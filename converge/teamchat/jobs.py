"""The practice's message retention applies to team messages too: older ones are deleted with
their revisions and notifications (registered from apps.py, so no other app lists it)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from converge.audit.services import audit_record
from converge.core import clock
from converge.core.jobs import periodic
from converge.privacy.models import PrivacySettings
from converge.teamchat.models import TeamMessage


@periodic("teamchat.retention", every=timedelta(hours=6))
def purge_team_messages() -> int:
    now = clock.now()
    total = 0
    for policy in PrivacySettings.objects.exclude(message_retention_days=0):
        days = policy.message_retention_days
        old = TeamMessage.objects.filter(practice_id=policy.practice_id, created_at__lt=now - timedelta(days=days))
        with transaction.atomic():
            _, deleted = old.delete()
            count = deleted.get("teamchat.TeamMessage", 0)  # not the revisions and notifications with them
            if count:
                audit_record(
                    practice_id=policy.practice_id,
                    actor=None,
                    action="teamchat.retention_purge",
                    detail={"days": days, "rows": count},
                )
        total += count
    return total
