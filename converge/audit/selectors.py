from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet

from converge.audit.models import AuditEvent

PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilter:
    patient_id: int | None = None
    # A patient's name as a manager types it ("Ruiz", "ana ruiz"): every word must match the
    # first or last name of the patient the row is about.
    patient_name: str = ""
    actor_user_id: int | None = None
    action: str = ""
    since: date | None = None
    until: date | None = None


def patients_named(*, practice_id: int, name: str) -> QuerySet:
    from converge.patients.models import Patient

    match = Q()
    for word in name.split():
        match &= Q(first_name__icontains=word) | Q(last_name__icontains=word)
    return Patient.objects.filter(match, practice_id=practice_id)


def audit_events(*, practice_id: int, filters: AuditFilter, tz: str) -> QuerySet[AuditEvent]:
    qs = AuditEvent.objects.filter(practice_id=practice_id)
    if filters.patient_id is not None:
        qs = qs.filter(patient_id=filters.patient_id)
    elif filters.patient_name.split():
        ids = patients_named(practice_id=practice_id, name=filters.patient_name).values("id")
        qs = qs.filter(patient_id__in=ids)
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


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    newer: int | None  # pass as ?after= to see the newer page
    older: int | None  # pass as ?before= to see the older page


def audit_page_of(
    qs: QuerySet[AuditEvent], *, before: int | None = None, after: int | None = None, size: int = PAGE_SIZE
) -> AuditPage:
    """Keyset paging over `qs` (newest first): rows older than `before`, or the page just newer
    than `after`. No COUNT over the whole log."""
    if after is not None and before is None:
        chunk = list(qs.filter(id__gt=after).order_by("id")[: size + 1])
        has_newer = len(chunk) > size
        events = list(reversed(chunk[:size]))
        has_older = bool(events) and qs.filter(id__lt=events[-1].id).exists()
        if not events:  # nothing newer: show the newest page
            return audit_page_of(qs, size=size)
    else:
        chunk = list((qs.filter(id__lt=before) if before is not None else qs)[: size + 1])
        has_older = len(chunk) > size
        events = chunk[:size]
        has_newer = before is not None and bool(events) and qs.filter(id__gt=events[0].id).exists()
    return AuditPage(
        events=events,
        newer=events[0].id if has_newer and events else None,
        older=events[-1].id if has_older and events else None,
    )
