"""The practice manager's audit page: filter by patient, staff member, action and date; export
CSV. Reading the audit log is itself audited."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.shortcuts import render

from converge.audit.describe import ACTION_GROUPS, ACTIONS, describe
from converge.audit.models import AuditEvent
from converge.audit.selectors import AuditFilter, audit_events, audit_page_of, patients_named
from converge.audit.services import audit_record
from converge.dashboard.views.common import staff_of, staff_required
from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can

MAX_ID = 2**63 - 1
CSV_BATCH = 1000


def _batches(events: Iterator[AuditEvent], size: int) -> Iterator[list[AuditEvent]]:
    batch: list[AuditEvent] = []
    for e in events:
        batch.append(e)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _id(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and int(value) <= MAX_ID else None


def _filters(request: HttpRequest) -> AuditFilter:
    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(request.GET.get(name, ""))
        except ValueError:
            return None

    # "patient" is what the manager typed: a name ("Ruiz"), or a record number (links and old
    # bookmarks pass the id).
    patient = request.GET.get("patient", "").strip()[:100]
    return AuditFilter(
        patient_id=_id(patient),
        patient_name="" if patient.isdigit() else patient,
        actor_user_id=_id(request.GET.get("staff")),
        action=request.GET.get("action", "").strip()[:80],
        since=day("since"),
        until=day("until"),
    )


@staff_required
def audit_page(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not can(staff, Perm.VIEW_AUDIT):
        return HttpResponseForbidden("Only practice managers and administrators can read the audit log.")
    filters = _filters(request)
    tz = staff.practice.time_zone
    qs = audit_events(practice_id=staff.practice_id, filters=filters, tz=tz)
    page = audit_page_of(qs, before=_id(request.GET.get("before")), after=_id(request.GET.get("after")))
    rows = describe(page.events, practice_id=staff.practice_id, tz=tz)
    audit_record(practice_id=staff.practice_id, actor=staff, action="audit.read", detail={"rows": len(rows)})
    kept = request.GET.copy()  # the filters, without the page position
    for key in ("before", "after"):
        kept.pop(key, None)
    matched: list[str] = []
    if filters.patient_name:
        found = patients_named(practice_id=staff.practice_id, name=filters.patient_name)
        matched = sorted({p.full_name or f"patient #{p.pk}" for p in found[:11]})
    return render(
        request,
        "audit/audit.html",
        {
            "rows": rows,
            "page": page,
            "filters": filters,
            "patient_text": request.GET.get("patient", "").strip()[:100],
            "matched_patients": matched,
            "staff_members": StaffMember.objects.filter(practice_id=staff.practice_id).order_by("display_name"),
            "action_groups": ACTION_GROUPS,
            "actions": sorted(ACTIONS.items(), key=lambda item: item[1]),
            "filter_query": kept.urlencode(),  # not "query": that fills the header's search box
            "filtered": bool(kept.urlencode()),
            "action_known": filters.action in ACTIONS or any(filters.action == code for code, _ in ACTION_GROUPS),
        },
    )


@staff_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not can(staff, Perm.VIEW_AUDIT):
        return HttpResponseForbidden("Only practice managers and administrators can export the audit log.")
    filters = _filters(request)
    tz = staff.practice.time_zone
    qs = audit_events(practice_id=staff.practice_id, filters=filters, tz=tz)
    audit_record(practice_id=staff.practice_id, actor=staff, action="audit.export")

    class Echo:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Echo())

    def rows() -> Iterator[str]:
        yield writer.writerow(
            [
                "id",
                "time",
                "actor",
                "actor_user_id",
                "action",
                "object_type",
                "object_id",
                "patient_id",
                "ip",
                "chain_index",
                "hash",
                # The same row in words, as the audit page shows it (added after the raw columns
                # so tools reading them by position keep working).
                "who",
                "what",
                "to_what",
                "patient",
                "details",
            ]
        )
        for batch in _batches(qs.iterator(chunk_size=CSV_BATCH), CSV_BATCH):
            for r in describe(batch, practice_id=staff.practice_id, tz=tz):
                e = r.event
                yield writer.writerow(
                    [
                        e.id,
                        e.created_at.isoformat(),
                        e.actor_label,
                        e.actor_user_id or "",
                        e.action,
                        e.object_type,
                        e.object_id,
                        e.patient_id or "",
                        e.ip,
                        e.chain_index or "",
                        e.hash,
                        r.who,
                        r.action,
                        r.what,
                        r.patient,
                        r.detail,
                    ]
                )

    response = StreamingHttpResponse(rows(), content_type="text/csv")  # type: ignore[assignment]
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response  # type: ignore[return-value]
