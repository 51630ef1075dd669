"""The team messages pages (/team/): thin views over teamchat.selectors and .services. Every
route is for a signed-in staff member and shows only what access.py lets them see (404 else)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from converge.conversations.selectors import conversation_get
from converge.core.principal import Principal
from converge.dashboard.presenters import label_thread
from converge.dashboard.views.common import int_or_none, is_htmx, principal_of, refused, staff_of, staff_required
from converge.practices.models import StaffMember
from converge.teamchat import access, selectors, services
from converge.teamchat.models import EDIT_WINDOW_MINUTES, DirectThread, StaffStatus, TeamMessage, Topic
from converge.teamchat.services import TeamChatError


def _posted(request: HttpRequest, back: str) -> HttpResponse:
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Trigger"] = "team:posted"
        return response
    return redirect(back)


def _page(request: HttpRequest, **context: Any) -> HttpResponse:
    principal = principal_of(request)
    staff = staff_of(request)
    return render(
        request,
        "teamchat/team.html",
        {
            "sidebar": selectors.sidebar(principal=principal),
            "colleagues": selectors.staff_choices(staff=staff),
            "may_create_channel": access.sees_all_channels(staff),
            "edit_minutes": EDIT_WINDOW_MINUTES,
            "my_status": selectors.own_status(staff),
            "status_choices": StaffStatus.Choice.choices,
            "presence": {str(k): v for k, v in selectors.presence_by_staff(staff.practice_id).items()},
            **context,
        },
    )


def _messages_context(
    request: HttpRequest,
    qs: Any,
    principal: Principal,
    *,
    topic: Topic | None = None,
    thread: DirectThread | None = None,
    opened: bool = False,
) -> dict[str, Any]:
    """One page of messages; `opened` is the whole topic opened (its own patient link audited).
    Showing them marks nothing read: the page says what it showed with a POST (topic_read)."""
    before = int_or_none(request.GET.get("before"))
    after = int_or_none(request.GET.get("after"))
    messages, more = selectors.messages_page(qs, before_id=before, after_id=after)
    label_thread(messages)
    staff = staff_of(request)
    presence = selectors.presence_by_staff(staff.practice_id)
    for message in messages:
        message.editable = selectors.editable(message, staff)  # type: ignore[attr-defined]
        state = presence.get(message.author_id or 0, "offline")
        message.author_presence = state  # type: ignore[attr-defined]
        message.author_presence_label = selectors.PRESENCE_LABELS[state]  # type: ignore[attr-defined]
    selectors.message_links(messages, principal)
    obj = topic if topic is not None else thread
    assert obj is not None
    selectors.read_audit(obj=obj, messages=messages, principal=principal, opened=opened)
    # Not "messages": the base template shows Django's flash messages under that name.
    return {"items": messages, "more": more, "oldest_id": messages[0].pk if messages else 0, "before": before}


# --- pages ------------------------------------------------------------------------------------


@staff_required
@require_GET
def team_home(request: HttpRequest) -> HttpResponse:
    return _page(request)


@staff_required
def channel_view(request: HttpRequest, team_channel_id: int) -> HttpResponse:
    """A channel: its topics, and (POST) a new topic with its first message."""
    staff = staff_of(request)
    channel = access.channel_get(staff=staff, channel_id=team_channel_id)
    if request.method == "POST":
        try:
            topic, _ = services.topic_start(
                actor=staff,
                channel=channel,
                title=request.POST.get("title", ""),
                body=request.POST.get("body", ""),
                urgent=request.POST.get("urgent") == "on",
            )
        except TeamChatError as exc:
            return refused(request, f"/team/c/{channel.pk}/", str(exc))
        if is_htmx(request):
            response = HttpResponse(status=204)
            response["HX-Redirect"] = f"/team/t/{topic.pk}/"
            return response
        return redirect(f"/team/t/{topic.pk}/")
    if request.method != "GET":
        return HttpResponse(status=405)
    return _page(
        request,
        channel=channel,
        channel_topics=selectors.channel_topics(channel=channel, principal=principal_of(request)),
    )


@staff_required
@require_GET
def topic_view(request: HttpRequest, topic_id: int) -> HttpResponse:
    principal = principal_of(request)
    topic = access.topic_get(staff=staff_of(request), topic_id=topic_id)
    return _page(
        request,
        topic=topic,
        topic_title=selectors.topic_title(topic, principal),
        link=selectors.topic_link(topic, principal),
        post_url=f"/team/t/{topic.pk}/post",
        placeholder=f"Message #{topic.channel.name}",
        **_messages_context(request, selectors.topic_messages(topic), principal, topic=topic, opened=True),
    )


@staff_required
@require_GET
def topic_messages(request: HttpRequest, topic_id: int) -> HttpResponse:
    """Older messages (?before=) as one scrolls up, or newer ones (?after=) on a live event."""
    principal = principal_of(request)
    topic = access.topic_get(staff=staff_of(request), topic_id=topic_id)
    context = _messages_context(request, selectors.topic_messages(topic), principal, topic=topic)
    return render(request, "teamchat/_messages.html", {"topic": topic, "edit_minutes": EDIT_WINDOW_MINUTES, **context})


@staff_required
@require_POST
def topic_post(request: HttpRequest, topic_id: int) -> HttpResponse:
    staff = staff_of(request)
    topic = access.topic_get(staff=staff, topic_id=topic_id)
    try:
        services.message_post(
            actor=staff, topic=topic, body=request.POST.get("body", ""), urgent=request.POST.get("urgent") == "on"
        )
    except TeamChatError as exc:
        return refused(request, f"/team/t/{topic.pk}/", str(exc))
    return _posted(request, f"/team/t/{topic.pk}/")


@staff_required
@require_POST
def topic_read(request: HttpRequest, topic_id: int) -> HttpResponse:
    """The page has shown the member the topic's messages up to `up_to` (team.js, after showing
    them): they count as read for them."""
    staff = staff_of(request)
    return _mark_read(request, staff, topic=access.topic_get(staff=staff, topic_id=topic_id))


@staff_required
@require_GET
def thread_view(request: HttpRequest, thread_id: int) -> HttpResponse:
    staff = staff_of(request)
    thread = access.thread_get(staff=staff, thread_id=thread_id)
    return _page(
        request,
        thread=thread,
        thread_title=selectors.thread_names(thread=thread, staff=staff),
        post_url=f"/team/d/{thread.pk}/post",
        placeholder="Message",
        **_messages_context(request, selectors.thread_messages(thread), principal_of(request), thread=thread),
    )


@staff_required
@require_GET
def thread_messages(request: HttpRequest, thread_id: int) -> HttpResponse:
    thread = access.thread_get(staff=staff_of(request), thread_id=thread_id)
    context = _messages_context(request, selectors.thread_messages(thread), principal_of(request), thread=thread)
    return render(
        request, "teamchat/_messages.html", {"thread": thread, "edit_minutes": EDIT_WINDOW_MINUTES, **context}
    )


@staff_required
@require_POST
def thread_post(request: HttpRequest, thread_id: int) -> HttpResponse:
    staff = staff_of(request)
    thread = access.thread_get(staff=staff, thread_id=thread_id)
    try:
        services.message_post(
            actor=staff, thread=thread, body=request.POST.get("body", ""), urgent=request.POST.get("urgent") == "on"
        )
    except TeamChatError as exc:
        return refused(request, f"/team/d/{thread.pk}/", str(exc))
    return _posted(request, f"/team/d/{thread.pk}/")


@staff_required
@require_POST
def thread_read(request: HttpRequest, thread_id: int) -> HttpResponse:
    """As topic_read, for a direct conversation or group."""
    staff = staff_of(request)
    return _mark_read(request, staff, thread=access.thread_get(staff=staff, thread_id=thread_id))


def _mark_read(
    request: HttpRequest, staff: StaffMember, *, topic: Topic | None = None, thread: DirectThread | None = None
) -> HttpResponse:
    raw = str(request.POST.get("up_to", ""))
    if not raw.isdigit() or len(raw) > 12:
        return HttpResponse("up_to: the id of the newest message shown", status=400, content_type="text/plain")
    services.mark_read(actor=staff, topic=topic, thread=thread, up_to_id=int(raw))
    return HttpResponse(status=204)


@staff_required
@require_POST
def direct_start(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("members") if v.isdigit() and len(v) < 12]
    try:
        thread = services.direct_open(actor=staff_of(request), member_ids=ids)
    except TeamChatError as exc:
        return refused(request, "/team/", str(exc))
    return redirect(f"/team/d/{thread.pk}/")


@staff_required
@require_POST
def channel_create(request: HttpRequest) -> HttpResponse:
    ids = [int(v) for v in request.POST.getlist("members") if v.isdigit() and len(v) < 12]
    try:
        channel = services.channel_create(
            actor=staff_of(request),
            name=request.POST.get("name", ""),
            member_ids=ids,
            description=request.POST.get("description", ""),
        )
    except TeamChatError as exc:
        if not access.sees_all_channels(staff_of(request)):
            return HttpResponse(str(exc), status=403, content_type="text/plain; charset=utf-8")
        return refused(request, "/team/", str(exc))
    return redirect(f"/team/c/{channel.pk}/")


def _back(message: TeamMessage) -> str:
    return f"/team/t/{message.topic_id}/" if message.topic_id else f"/team/d/{message.thread_id}/"


@staff_required
@require_POST
def message_edit(request: HttpRequest, team_message_id: int) -> HttpResponse:
    staff = staff_of(request)
    message = access.message_get(staff=staff, message_id=team_message_id)
    try:
        services.message_edit(actor=staff, message=message, body=request.POST.get("body", ""))
    except TeamChatError as exc:
        return refused(request, _back(message), str(exc))
    return _posted(request, _back(message))


@staff_required
@require_POST
def message_delete(request: HttpRequest, team_message_id: int) -> HttpResponse:
    staff = staff_of(request)
    message = access.message_get(staff=staff, message_id=team_message_id)
    try:
        services.message_delete(actor=staff, message=message)
    except TeamChatError as exc:
        return refused(request, _back(message), str(exc))
    return _posted(request, _back(message))


# --- partials ---------------------------------------------------------------------------------


@staff_required
@require_GET
def sidebar(request: HttpRequest) -> HttpResponse:
    principal = principal_of(request)
    return render(
        request,
        "teamchat/_sidebar.html",
        {
            "sidebar": selectors.sidebar(principal=principal),
            "current_topic": int_or_none(request.GET.get("topic")),
            "current_thread": int_or_none(request.GET.get("thread")),
            "my_status": selectors.own_status(staff_of(request)),
            "status_choices": StaffStatus.Choice.choices,
            "presence": {str(k): v for k, v in selectors.presence_by_staff(principal.practice_id).items()},
        },
    )


@staff_required
@require_GET
def badge(request: HttpRequest) -> HttpResponse:
    return render(request, "teamchat/_badge.html", {"unread": selectors.unread_total(staff=staff_of(request))})


@staff_required
@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "")[:200]
    principal = principal_of(request)
    results = selectors.search(staff=staff_of(request), text=query)
    for message in results:
        message.topic_label = selectors.topic_title(message.topic, principal) if message.topic else ""  # type: ignore[attr-defined]
    label_thread(results)
    return _page(request, search_query=query, results=results)


@staff_required
@require_POST
def ask_team(request: HttpRequest, conversation_id: int) -> HttpResponse:
    """ "Ask the team" from a patient conversation: a topic in the chosen channel linked to it."""
    principal = principal_of(request)
    staff = staff_of(request)
    conversation = conversation_get(principal=principal, conversation_id=conversation_id, audit=False)
    back = f"/c/{conversation.pk}/"
    channel_id = int_or_none(request.POST.get("channel"))
    if channel_id is None or len(str(channel_id)) > 12:
        return refused(request, back, "Choose a team to ask.")
    channel = access.channel_get(staff=staff, channel_id=channel_id)
    try:
        topic, _ = services.topic_ask_team(
            actor=staff,
            conversation=conversation,
            channel=channel,
            body=request.POST.get("body", ""),
            urgent=request.POST.get("urgent") == "on",
        )
    except TeamChatError as exc:
        return refused(request, back, f"Not sent: {exc}")
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Trigger"] = json.dumps(
            {"converge:changed": {"conversation_id": conversation.pk}, "team:asked": {"topic_id": topic.pk}}
        )
        return response
    return redirect(f"/team/t/{topic.pk}/")


@staff_required
@require_POST
def status_set(request: HttpRequest) -> HttpResponse:
    """Online / away / in a visit, chosen on the /team/ page; colleagues see it next to the name."""
    back = request.POST.get("next") or "/team/"
    if not back.startswith("/team/"):
        back = "/team/"
    try:
        services.status_set(actor=staff_of(request), choice=str(request.POST.get("status", "")))
    except TeamChatError as exc:
        return refused(request, back, str(exc))
    return _posted(request, back)
