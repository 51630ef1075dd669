"""Notifications (@mentions), the mention picker's list, and the simulator log."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from converge.audit.services import audit_record
from converge.connectors.models import Provider
from converge.conversations import services
from converge.conversations.models import Direction, Message
from converge.conversations.selectors import mention_candidates, mention_list, mentions_unread_count
from converge.dashboard.views.common import done, principal_of, staff_of, staff_required
from converge.privacy import access


@staff_required
@require_GET
def notifications(request: HttpRequest) -> HttpResponse:
    staff = staff_of(request)
    # A note on a clinical conversation is as confidential as the conversation.
    mentions = [m for m in mention_list(staff=staff) if access.may_read(m.conversation, principal_of(request))]
    # The list quotes notes about patients: a read of their records.
    for patient_id in sorted({m.conversation.patient_id for m in mentions}):
        audit_record(
            practice_id=staff.practice_id,
            actor=staff,
            action="mention.list",
            patient_id=patient_id,
            ip=principal_of(request).ip,
        )
    return render(
        request,
        "dashboard/_notifications.html",
        {"mentions": mentions, "unread": mentions_unread_count(staff=staff)},
    )


@staff_required
@require_GET
def notifications_badge(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/_badge.html", {"unread": mentions_unread_count(staff=staff_of(request))})


@staff_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    services.mentions_mark_read(staff=staff_of(request))
    return done(request, "/")


@staff_required
@require_GET
def mention_handles(request: HttpRequest) -> JsonResponse:
    candidates = mention_candidates(practice_id=principal_of(request).practice_id)
    return JsonResponse({"items": [{"handle": c.handle, "name": c.staff.display_name} for c in candidates]})


@staff_required
@require_GET
def settings_index(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/settings.html")


@staff_required
@require_GET
def simulator_log(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    sent = (
        Message.objects.filter(
            practice_id=principal.practice_id,
            channel__provider=Provider.SIMULATOR,
            direction=Direction.OUTBOUND,
        )
        .select_related("channel", "contact_point", "conversation")
        .order_by("-created_at")[:200]
    )
    audit_record(practice_id=principal.practice_id, actor=principal.staff, action="simulator_log.read", ip=principal.ip)
    return render(request, "dashboard/simulator.html", {"sent": sent})
