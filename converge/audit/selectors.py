from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import QuerySet

from converge.audit.models import AuditEvent


@dataclass(frozen=True)
class AuditFilter:
    patient_id: int | None = None
    actor_user_id: int | None = None
    action: str = ""
    since: date | None = None
    until: date | None = None


def audit_events(*, practice_id: int, filters: AuditFilter, tz: str) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.filter(practice_id=practice_id)
    if filters.patient_id is not None:
        qs = qs.filter(patient_id=filters.patient_id)
    if filters.actor_user_id is not None:
        qs = qs.filter(actor_user_id=filters.actor_user_id)
    if filters.action:
        qs = qs.filter(action__startswith=filters.action)
    zone = ZoneInfo(tz)
    if filters.since is not None:
        qs = qs.filter(created_at__gte=datetime.combine(filters.since, time.min, tzinfo=zone))
    if filters.until is not None:
        qs = qs.filter(created_at__lt=datetime.combine(filters.until + timedelta(days=1), time.min, tzinfo=zone))
    return qs.order_by("-id")
