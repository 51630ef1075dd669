"""The practice manager's audit page: filter by patient, staff member, action and date; export
CSV. Reading the audit log is itself audited."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, StreamingHttpResponse
from django.shortcuts import render

from converge.audit.selectors import AuditFilter, audit_events
from converge.audit.services import audit_record
from converge.dashboard.views.common import int_or_none, staff_of, staff_required
from converge.practices.models import StaffMember
from converge.practices.permissions import Perm, can


def _filters(request: HttpRequest) -> AuditFilter:
    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(request.GET.get(name, ""))
        except ValueError:
            return None

    return AuditFilter(
        patient_id=int_or_none(request.GET.get("patient")),
        actor_user_id=int_or_none(request.GET.get("staff")),
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
    rows = list(audit_events(practice_id=staff.practice_id, filters=filters, tz=staff.practice.time_zone)[:200])
    names = dict(StaffMember.objects.filter(practice_id=staff.practice_id).values_list("user_id", "display_name"))
    audit_record(practice_id=staff.practice_id, actor=staff, action="audit.read", detail={"rows": len(rows)})
    return render(
        request,
        "audit/audit.html",
        {
            "rows": [
                (e, names.get(e.actor_user_id, e.actor_label) if e.actor_user_id else e.actor_label) for e in rows
            ],
            "filters": filters,
            "staff_members": StaffMember.objects.filter(practice_id=staff.practice_id).order_by("display_name"),
            "query": request.GET.urlencode(),
        },
    )


@staff_required
def audit_csv(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    if not can(staff, Perm.VIEW_AUDIT):
        return HttpResponseForbidden("Only practice managers and administrators can export the audit log.")
    filters = _filters(request)
    qs = audit_events(practice_id=staff.practice_id, filters=filters, tz=staff.practice.time_zone)
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
            ]
        )
        for e in qs.iterator(chunk_size=2000):
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
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv")  # type: ignore[assignment]
    response["Content-Disposition"] = 'attachment; filename="audit.csv"'
    return response  # type: ignore[return-value]
