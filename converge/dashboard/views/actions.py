"""Staff actions on conversations. Each parses the form, calls one service, and answers with
`done` (htmx: 204 + an event naming what changed) or `refused` (the reason, as text)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from converge.conversations import services
from converge.conversations.selectors import conversation_get
from converge.dashboard.selectors import (
    channel_of,
    readable_conversation_ids,
    readable_message,
    staff_member_of,
    team_of,
)
from converge.dashboard.views.common import done, int_or_none, principal_of, refused, staff_of, staff_required
from converge.practices.models import StaffMember, Team


def _back(conversation_id: int) -> str:
    return f"/c/{conversation_id}/"


@staff_required
@require_POST
def conversation_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    channel = channel_of(practice_id=principal.practice_id, channel_id=int_or_none(request.POST.get("channel")))
    try:
        if channel is None:
            raise services.ServiceError("choose a channel")
        services.message_queue(
            conversation=conversation,
            channel=channel,
            body=request.POST.get("body", ""),
            sender=principal.staff,
            # Offered by the composer's guard notice (warn / block policies); the guard decides.
            phi_override_reason=request.POST.get("phi_override_reason", "")[:300],
            via_portal=request.POST.get("via_portal") == "1",
        )
    except services.ServiceError as exc:
        return refused(request, _back(conversation_id), f"Not sent: {exc}")
    return done(request, _back(conversation_id), conversation_id=conversation_id)


@staff_required
@require_POST
def conversation_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    try:
        services.note_post(conversation=conversation, author=staff_of(request), body=request.POST.get("body", ""))
    except services.ServiceError as exc:
        return refused(request, _back(conversation_id), f"Note not added: {exc}")
    return done(request, _back(conversation_id), conversation_id=conversation_id)


def _assignee(request: HttpRequest, value: str) -> StaffMember | None:
    principal = principal_of(request)
    if value == "me":
        return principal.staff
    if value.isdigit():
        assignee = staff_member_of(practice_id=principal.practice_id, staff_id=int(value))
        if assignee is None:
            raise Http404("staff member not found")
        return assignee
    return None


def _team(request: HttpRequest, value: str) -> Team | None:
    if not value.isdigit():
        return None
    team = team_of(practice_id=principal_of(request).practice_id, team_id=int(value))
    if team is None:
        raise Http404("team not found")
    return team


@staff_required
@require_POST
def conversation_assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    assignee = _assignee(request, request.POST.get("assignee", ""))
    team = _team(request, request.POST.get("team", ""))
    try:
        services.conversation_assign(conversation=conversation, actor=principal.staff, assignee=assignee, team=team)
    except services.ServiceError as exc:
        return refused(request, _back(conversation_id), str(exc))
    return done(request, _back(conversation_id), conversation_id=conversation_id)


@staff_required
@require_POST
def conversation_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    snoozed_until = None
    raw = request.POST.get("snoozed_until") or request.POST.get("snooze_at") or ""
    try:
        if raw:
            # A datetime-local input carries no zone: it is the practice's local time.
            snoozed_until = datetime.fromisoformat(raw)
            if snoozed_until.tzinfo is None:
                snoozed_until = snoozed_until.replace(tzinfo=ZoneInfo(conversation.practice.time_zone))
        services.conversation_set_status(
            conversation=conversation,
            actor=principal.staff,
            status=request.POST.get("status", ""),
            snoozed_until=snoozed_until,
        )
    except ValueError as exc:  # ServiceError is a ValueError, and so is a malformed time
        return refused(request, _back(conversation_id), str(exc))
    return done(request, _back(conversation_id), conversation_id=conversation_id)


@staff_required
@require_POST
def conversation_triage(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    priority = int_or_none(request.POST.get("priority"))
    category = request.POST.get("category")
    try:
        services.conversation_set_triage(
            conversation=conversation,
            actor=principal.staff,
            priority=priority,
            category=category.strip().lower() if category is not None else None,
        )
    except services.ServiceError as exc:
        return refused(request, _back(conversation_id), str(exc))
    return done(request, _back(conversation_id), conversation_id=conversation_id)


@staff_required
@require_POST
def message_retry(request: HttpRequest, message_id: int) -> HttpResponse:
    principal = principal_of(request)
    message = readable_message(principal=principal, message_id=message_id)
    try:
        services.message_retry(message=message, actor=staff_of(request))
    except services.ServiceError as exc:
        return refused(request, _back(message.conversation_id), str(exc))
    return done(request, _back(message.conversation_id), conversation_id=message.conversation_id)


@staff_required
@require_POST
def message_category(request: HttpRequest, message_id: int) -> HttpResponse:
    """One-click correction of a message's triage category (audited, kept as training data)."""
    from converge.routing.services import message_recategorise

    principal = principal_of(request)
    message = readable_message(principal=principal, message_id=message_id, inbound_only=True)
    try:
        message_recategorise(message=message, category=request.POST.get("category", ""), staff=staff_of(request))
    except ValueError as exc:
        return refused(request, _back(message.conversation_id), str(exc))
    return done(request, _back(message.conversation_id), conversation_id=message.conversation_id)


@staff_required
@require_POST
def conversations_bulk(request: HttpRequest) -> HttpResponse:
    """Assign or resolve the conversations ticked in the list."""
    principal = principal_of(request)
    ids = [int(v) for v in request.POST.getlist("ids") if v.isdigit()]
    back = "/?" + request.POST.get("view_query", "view=all")
    if not ids:
        return refused(request, back, "Tick at least one conversation first.")
    # Only conversations this reader may open (clinical confidentiality), as one by one.
    ids = readable_conversation_ids(principal=principal, ids=ids)
    action = request.POST.get("action", "")
    try:
        assignee = _assignee(request, request.POST.get("assignee", "")) if action == "assign" else None
        team = _team(request, request.POST.get("team", "")) if action == "assign" else None
        count, problems = services.conversations_bulk_apply(
            practice_id=principal.practice_id,
            conversation_ids=ids,
            actor=staff_of(request),
            action=action,
            assignee=assignee,
            team=team,
        )
    except services.ServiceError as exc:
        return refused(request, back, str(exc))
    verb = "Assigned" if action == "assign" else "Resolved"
    note = f"{verb} {count} conversation{'s' if count != 1 else ''}."
    if problems:
        note += f" {len(problems)} could not be changed: " + "; ".join(problems[:3])
    return done(request, back, note=note)
