"""Staff pages. Thin: parse the request, call a selector or service, render."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import wraps
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages as flash
from django.contrib.auth import authenticate, login, logout
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from converge.audit.services import audit_record
from converge.connectors.models import Channel, Provider
from converge.connectors.types import ChannelKind
from converge.conversations import services
from converge.conversations.models import ConversationStatus, Direction, Message
from converge.conversations.selectors import (
    ConversationFilter,
    conversation_get,
    conversation_list,
    thread_items,
)
from converge.core.principal import Principal, client_ip, staff_principal
from converge.practices.models import Practice, StaffMember, Team


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        staff = getattr(user, "staff", None) if user.is_authenticated else None
        if staff is None or not staff.is_active:
            return redirect(f"/login/?next={request.path}")
        request.principal = staff_principal(staff, client_ip(request))  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapper


def _principal(request: HttpRequest) -> Principal:
    return request.principal  # type: ignore[attr-defined,no-any-return]


def login_view(request: HttpRequest) -> HttpResponse:
    practices = list(Practice.objects.order_by("id")[:2])
    practice_name = practices[0].name if len(practices) == 1 else "Converge"
    error = ""
    if request.method == "POST":
        email = request.POST.get("email", "").strip().lower()
        user = authenticate(request, username=email, password=request.POST.get("password", ""))
        staff = getattr(user, "staff", None) if user is not None else None
        if user is None or staff is None or not staff.is_active:
            error = "That email and password do not match an active account."
            audit_record(practice_id=None, actor=None, action="auth.login_failed", ip=client_ip(request))
        else:
            login(request, user)  # cycles the session key
            audit_record(
                practice_id=staff.practice_id,
                actor=staff,
                action="auth.login",
                ip=client_ip(request),
            )
            target = request.GET.get("next", "/")
            if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
                target = "/"
            return redirect(target)
    return render(
        request,
        "dashboard/login.html",
        {"practice_name": practice_name, "error": error, "idle": request.GET.get("idle") == "1"},
        status=401 if error else 200,
    )


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    staff = getattr(request.user, "staff", None) if request.user.is_authenticated else None
    if staff is not None:
        audit_record(practice_id=staff.practice_id, actor=staff, action="auth.logout", ip=client_ip(request))
    logout(request)
    return redirect("/login/")


VIEW_LABELS = {
    "all": "All open",
    "mine": "Mine",
    "unassigned": "Unassigned",
    "urgent": "Urgent",
    "snoozed": "Snoozed",
    "resolved": "Resolved",
}


@staff_required
def inbox(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    view = request.GET.get("view", "all")
    if view not in VIEW_LABELS:
        view = "all"
    team_id = request.GET.get("team")
    filters = ConversationFilter(view=view, team_id=int(team_id) if team_id and team_id.isdigit() else None)
    conversations = conversation_list(principal=principal, filters=filters, limit=100)
    teams = Team.objects.filter(practice_id=principal.practice_id).order_by("name")
    return render(
        request,
        "dashboard/inbox.html",
        {
            "conversations": conversations,
            "view": view,
            "views": VIEW_LABELS,
            "teams": teams,
            "team_id": filters.team_id,
        },
    )


@staff_required
def conversation_detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = _principal(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id)
    channels = Channel.objects.filter(practice_id=principal.practice_id, enabled=True).exclude(kind=ChannelKind.PORTAL)
    default_channel = services.reply_channel_default(conversation)
    staff = StaffMember.objects.filter(practice_id=principal.practice_id, is_active=True).order_by("display_name")
    teams = Team.objects.filter(practice_id=principal.practice_id).order_by("name")
    return render(
        request,
        "dashboard/conversation.html",
        {
            "conversation": conversation,
            "patient": conversation.patient,
            "items": thread_items(conversation=conversation),
            "channels": channels,
            "default_channel_id": default_channel.pk if default_channel else None,
            "staff_members": staff,
            "teams": teams,
            "statuses": ConversationStatus.choices,
        },
    )


def _back(conversation_id: int) -> HttpResponse:
    return redirect(f"/c/{conversation_id}/")


@staff_required
@require_POST
def conversation_reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = _principal(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    channel = Channel.objects.filter(practice_id=principal.practice_id, pk=request.POST.get("channel") or 0).first()
    try:
        if channel is None:
            raise services.ServiceError("choose a channel")
        services.message_queue(
            conversation=conversation,
            channel=channel,
            body=request.POST.get("body", ""),
            sender=principal.staff,
        )
    except services.ServiceError as exc:
        flash.error(request, f"Not sent: {exc}")
    return _back(conversation_id)


@staff_required
@require_POST
def conversation_note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = _principal(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    assert principal.staff is not None
    try:
        services.note_add(conversation=conversation, author=principal.staff, body=request.POST.get("body", ""))
    except services.ServiceError as exc:
        flash.error(request, str(exc))
    return _back(conversation_id)


@staff_required
@require_POST
def conversation_assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = _principal(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    value = request.POST.get("assignee", "")
    assignee = None
    if value == "me":
        assignee = principal.staff
    elif value.isdigit():
        assignee = StaffMember.objects.filter(practice_id=principal.practice_id, pk=int(value)).first()
        if assignee is None:
            raise Http404("staff member not found")
    team_value = request.POST.get("team", "")
    team = None
    if team_value.isdigit():
        team = Team.objects.filter(practice_id=principal.practice_id, pk=int(team_value)).first()
        if team is None:
            raise Http404("team not found")
    try:
        services.conversation_assign(conversation=conversation, actor=principal.staff, assignee=assignee, team=team)
    except services.ServiceError as exc:
        flash.error(request, str(exc))
    return _back(conversation_id)


@staff_required
@require_POST
def conversation_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = _principal(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    snoozed_until = None
    raw = request.POST.get("snoozed_until", "")
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
    except (services.ServiceError, ValueError) as exc:
        flash.error(request, str(exc))
    return _back(conversation_id)


@staff_required
@require_POST
def message_retry(request: HttpRequest, message_id: int) -> HttpResponse:
    principal = _principal(request)
    message = Message.objects.filter(practice_id=principal.practice_id, pk=message_id).first()
    if message is None:
        raise Http404("message not found")
    assert principal.staff is not None
    try:
        services.message_retry(message=message, actor=principal.staff)
    except services.ServiceError as exc:
        flash.error(request, str(exc))
    return _back(message.conversation_id)


@staff_required
def simulator_log(request: HttpRequest) -> HttpResponse:
    principal = _principal(request)
    sent = (
        Message.objects.filter(
            practice_id=principal.practice_id,
            channel__provider=Provider.SIMULATOR,
            direction=Direction.OUTBOUND,
        )
        .select_related("channel", "contact_point", "conversation")
        .order_by("-created_at")[:200]
    )
    audit_record(
        practice_id=principal.practice_id,
        actor=principal.staff,
        action="simulator_log.read",
        ip=principal.ip,
    )
    return render(request, "dashboard/simulator.html", {"sent": sent})
