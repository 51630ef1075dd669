"""The three-pane inbox: views with counts, the conversation list, the open conversation (thread,
composer, patient panel). Full pages for a first load or a plain link; htmx partials for
everything after, so a live update never touches the composer or the reader's scroll position."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from converge.conversations import services
from converge.conversations.models import Conversation, Priority
from converge.conversations.selectors import (
    THREAD_EARLIER_PAGE,
    THREAD_PAGE,
    ConversationFilter,
    conversation_get,
    inbox_counts,
    inbox_page,
    is_pinned,
    reply_channel_options,
    thread_page,
)
from converge.core import clock
from converge.core.principal import Principal
from converge.dashboard.presenters import label_rows, label_thread
from converge.dashboard.selectors import patient_panel, staff_choices, team_choices
from converge.dashboard.views.common import int_or_none, is_htmx, principal_of, staff_required
from converge.practices.models import StaffMember, Team
from converge.routing.selectors import rules_read

VIEW_LABELS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "urgent": "Urgent",
    "all": "All open",
    "snoozed": "Snoozed",
    "resolved": "Resolved",
}
CATEGORIES = ("administrative", "scheduling", "refill", "clinical", "urgent", "other")
PAGE_SIZE = 50


def _filters(request: HttpRequest) -> ConversationFilter:
    view = request.GET.get("view", "all")
    if view not in VIEW_LABELS:
        view = "all"
    before, before_pinned = _decode_cursor(request.GET.get("before", ""))
    return ConversationFilter(
        view=view,
        team_id=int_or_none(request.GET.get("team")),
        before=before,
        before_pinned=before_pinned,
    )


def _encode_cursor(conversation: Conversation) -> str:
    """Where the next page starts: the last row's place in the list's order (pinned first, then
    newest first)."""
    raw = f"{int(is_pinned(conversation))}|{conversation.last_message_at.isoformat()}|{conversation.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def _decode_cursor(cursor: str) -> tuple[tuple[datetime, int] | None, bool]:
    """(time, id) and whether that row was pinned; a cursor from before pinning (time|id) reads as
    not pinned."""
    if not cursor:
        return None, False
    try:
        parts = base64.urlsafe_b64decode(cursor.encode()).decode().split("|")
        pinned = parts.pop(0) == "1" if len(parts) == 3 else False
        at, pk = parts
        return (datetime.fromisoformat(at), int(pk)), pinned
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None, False


def _view_query(filters: ConversationFilter) -> str:
    query = f"view={filters.view}"
    if filters.team_id is not None:
        query += f"&team={filters.team_id}"
    return query


class _Choices:
    """The practice's teams and active staff, read once per request however many of the panes
    being rendered list them (the views menu, the bulk bar, the thread header's menus)."""

    def __init__(self, practice_id: int) -> None:
        self.practice_id = practice_id

    @cached_property
    def teams(self) -> list[Team]:
        return team_choices(practice_id=self.practice_id)

    @cached_property
    def staff(self) -> list[StaffMember]:
        return staff_choices(practice_id=self.practice_id)


def _list_context(
    principal: Principal, filters: ConversationFilter, *, limit: int = PAGE_SIZE, choices: _Choices | None = None
) -> dict[str, Any]:
    choices = choices or _Choices(principal.practice_id)
    conversations = inbox_page(principal=principal, filters=filters, limit=limit)
    targets = {category: rule.response_minutes for category, rule in rules_read(principal.practice_id).items()}
    label_rows(conversations, targets)
    team = next((t for t in choices.teams if t.pk == filters.team_id), None)
    title = team.name if team is not None else VIEW_LABELS[filters.view]
    return {
        "conversations": conversations,
        "filters": filters,
        "view_query": _view_query(filters),
        "list_title": title,
        "next_cursor": _encode_cursor(conversations[-1]) if len(conversations) == limit else "",
        "appending": filters.before is not None,
        "bulk_staff": choices.staff,
    }


def _counts_context(
    principal: Principal, filters: ConversationFilter, *, choices: _Choices | None = None
) -> dict[str, Any]:
    teams = (choices or _Choices(principal.practice_id)).teams
    counts = inbox_counts(principal=principal, team_ids=[t.pk for t in teams])
    return {
        # (key, label, count, "+" when the count stopped at its cap)
        "views": [
            (key, label, counts.views[key], "+" if key in counts.capped else "") for key, label in VIEW_LABELS.items()
        ],
        "team_counts": [(t, counts.teams[t.pk]) for t in teams],
        "filters": filters,
    }


def _conversation_context(
    principal: Principal, conversation: Conversation, filters: ConversationFilter, *, choices: _Choices | None = None
) -> dict[str, Any]:
    choices = choices or _Choices(principal.practice_id)
    page = thread_page(conversation=conversation)
    label_thread(page.items)
    options, default_channel_id = reply_channel_options(conversation=conversation)
    panel = patient_panel(
        principal=principal, patient_id=conversation.patient_id, exclude_conversation_id=conversation.pk
    )
    return {
        "conversation": conversation,
        "patient": panel.patient,
        "page": page,
        "channel_options": options,
        "default_channel_id": default_channel_id,
        "staff_members": choices.staff,
        "teams": choices.teams,
        "priorities": Priority.choices,
        "categories": CATEGORIES,
        "panel": panel,
        "view_query": _view_query(filters),
        **_snooze_context(principal, conversation),
    }


@staff_required
@require_GET
def inbox(request: HttpRequest, conversation_id: int | None = None) -> HttpResponse:
    """The whole screen: on `/` with no conversation open, on `/c/<id>/` with one. An htmx
    request for `/c/<id>/` gets just the conversation pane."""
    principal = principal_of(request)
    filters = _filters(request)
    conversation = None
    if conversation_id is not None:
        conversation = conversation_get(principal=principal, conversation_id=conversation_id)
    if conversation is not None and is_htmx(request):
        return render(request, "dashboard/_conversation.html", _conversation_context(principal, conversation, filters))
    choices = _Choices(principal.practice_id)
    context: dict[str, Any] = {"open_conversation": conversation}
    context.update(_counts_context(principal, filters, choices=choices))
    context.update(_list_context(principal, filters, choices=choices))
    if conversation is not None:
        context.update(_conversation_context(principal, conversation, filters, choices=choices))
    return render(request, "dashboard/inbox.html", context)


@staff_required
@require_GET
def inbox_list(request: HttpRequest) -> HttpResponse:
    """The list pane; with `before` (the "load more" cursor) only the next rows."""
    principal = principal_of(request)
    limit = min(max(int_or_none(request.GET.get("limit")) or PAGE_SIZE, 1), 500)
    context = _list_context(principal, _filters(request), limit=limit)
    template = "dashboard/_rows.html" if context["appending"] else "dashboard/_list.html"
    return render(request, template, context)


def _snooze_context(principal: Principal, conversation: Conversation) -> dict[str, Any]:
    """Snooze presets in the practice's local time (a datetime-local value carries no zone)."""
    # The signed-in member's practice is already loaded (it is the conversation's: conversation_get
    # scopes to it); reading conversation.practice would fetch it again.
    staff = principal.staff
    practice = staff.practice if staff is not None else conversation.practice
    local = clock.now().astimezone(ZoneInfo(practice.time_zone)).replace(second=0, microsecond=0)
    morning = local.replace(hour=8, minute=0)
    tomorrow = morning + timedelta(days=1)
    monday = morning + timedelta(days=7 - local.weekday())
    fmt = "%Y-%m-%dT%H:%M"
    presets = [
        ("In 1 hour", (local + timedelta(hours=1)).strftime(fmt)),
        ("In 3 hours", (local + timedelta(hours=3)).strftime(fmt)),
        ("Tomorrow 8 AM", tomorrow.strftime(fmt)),
        ("Monday 8 AM", monday.strftime(fmt)),
    ]
    return {"snooze_presets": presets, "snooze_min": local.strftime(fmt)}


@staff_required
@require_GET
def inbox_counts_partial(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    return render(request, "dashboard/_views.html", _counts_context(principal, _filters(request)))


@staff_required
@require_POST
def conversation_read(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The page has shown the member the conversation's newest messages: it counts as read for
    them (showing it, a GET, changes nothing)."""
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    if principal.staff is not None:
        services.conversation_mark_read(conversation=conversation, staff=principal.staff)
    return HttpResponse(status=204)


@staff_required
@require_GET
def conversation_thread(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The thread's items: the newest THREAD_PAGE, `before=<message id>` for the
    THREAD_EARLIER_PAGE before that one ("load earlier"), or `from=<message id>` to re-read
    everything the reader has loaded (a live refresh)."""
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id)
    before_id = int_or_none(request.GET.get("before"))
    page = thread_page(
        conversation=conversation,
        before_id=before_id,
        from_id=int_or_none(request.GET.get("from")),
        limit=THREAD_EARLIER_PAGE if before_id is not None else THREAD_PAGE,
    )
    label_thread(page.items)
    return render(
        request,
        "dashboard/_thread_items.html",
        {"conversation": conversation, "page": page, "earlier": before_id is not None},
    )


@staff_required
@require_GET
def conversation_header(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    return render(
        request,
        "dashboard/_thread_header.html",
        {
            "conversation": conversation,
            "patient": conversation.patient,
            "staff_members": staff_choices(practice_id=principal.practice_id),
            "teams": team_choices(practice_id=principal.practice_id),
            "priorities": Priority.choices,
            "categories": CATEGORIES,
            "view_query": request.GET.get("view_query", "view=all"),
            **_snooze_context(principal, conversation),
        },
    )


@staff_required
@require_GET
def conversation_composer_channels(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """The channel picker alone, re-read when the patient writes (the WhatsApp window opens) or
    an address changes, without touching the text being typed."""
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    options, default_channel_id = reply_channel_options(conversation=conversation)
    selected = int_or_none(request.GET.get("selected"))
    if selected is not None and any(o.channel.pk == selected and o.available for o in options):
        default_channel_id = selected
    return render(
        request,
        "dashboard/_channel_picker.html",
        {"conversation": conversation, "channel_options": options, "default_channel_id": default_channel_id},
    )


@staff_required
@require_GET
def conversation_patient(request: HttpRequest, conversation_id: int) -> HttpResponse:
    principal = principal_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    panel = patient_panel(
        principal=principal, patient_id=conversation.patient_id, exclude_conversation_id=conversation.pk
    )
    return render(
        request,
        "dashboard/_patient_panel.html",
        {"conversation": conversation, "patient": panel.patient, "panel": panel},
    )
