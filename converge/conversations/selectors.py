"""Reads of conversations for a principal: always scoped to its practice; reads of a patient's
messages write an audit row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import Http404

from converge.audit.services import audit_record
from converge.conversations.models import Conversation, ConversationEvent, Message, Note
from converge.core.principal import Principal

INBOX_VIEWS = ("all", "mine", "unassigned", "urgent", "snoozed", "resolved")


@dataclass(frozen=True)
class ConversationFilter:
    view: str = "all"
    team_id: int | None = None
    status: str | None = None
    updated_since: datetime | None = None
    before: tuple[datetime, int] | None = None


def conversation_list(*, principal: Principal, filters: ConversationFilter, limit: int = 50) -> list[Conversation]:
    qs: QuerySet[Conversation] = Conversation.objects.filter(practice_id=principal.practice_id)
    if filters.view == "mine" and principal.staff is not None:
        qs = qs.filter(assignee=principal.staff).exclude(status__in=["resolved", "snoozed"])
    elif filters.view == "unassigned":
        qs = qs.filter(assignee__isnull=True, status__in=["open", "pending"])
    elif filters.view == "urgent":
        qs = qs.filter(priority=3, status__in=["open", "pending"])
    elif filters.view in ("snoozed", "resolved"):
        qs = qs.filter(status=filters.view)
    else:
        qs = qs.filter(status__in=["open", "pending"])
    if filters.team_id is not None:
        qs = qs.filter(team_id=filters.team_id)
    if filters.status is not None:
        qs = qs.filter(status=filters.status)
    if filters.updated_since is not None:
        qs = qs.filter(updated_at__gt=filters.updated_since).order_by("updated_at", "id")
    else:
        qs = qs.order_by("-last_message_at", "-id")
        if filters.before is not None:
            at, pk = filters.before
            qs = qs.filter(Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk))
    return list(qs.select_related("patient", "assignee", "team")[:limit])


def conversation_get(*, principal: Principal, conversation_id: int, audit: bool = True) -> Conversation:
    conversation = (
        Conversation.objects.select_related("patient", "assignee", "team")
        .filter(practice_id=principal.practice_id, pk=conversation_id)
        .first()
    )
    if conversation is None:
        raise Http404("conversation not found")
    if audit:
        audit_record(
            practice_id=principal.practice_id,
            actor=principal.actor,
            action="conversation.read",
            obj=conversation,
            patient_id=conversation.patient_id,
            ip=principal.ip,
        )
    return conversation


def message_list(*, conversation: Conversation, after_id: int | None = None, limit: int = 200) -> list[Message]:
    qs = Message.objects.filter(practice_id=conversation.practice_id, conversation=conversation)
    if after_id is not None:
        qs = qs.filter(id__gt=after_id).order_by("created_at", "id")
        return list(qs.select_related("channel", "sender")[:limit])
    # The newest `limit` messages, oldest first.
    newest = list(qs.select_related("channel", "sender").order_by("-created_at", "-id")[:limit])
    newest.reverse()
    return newest


def thread_items(*, conversation: Conversation, limit: int = 200) -> list[Message | Note | ConversationEvent]:
    """Messages, notes and system events interleaved by time."""
    messages = message_list(conversation=conversation, limit=limit)
    since = messages[0].created_at if messages and len(messages) >= limit else None
    notes_qs = Note.objects.filter(conversation=conversation).select_related("author")
    events_qs = ConversationEvent.objects.filter(conversation=conversation)
    if since is not None:
        notes_qs = notes_qs.filter(created_at__gte=since)
        events_qs = events_qs.filter(created_at__gte=since)
    items: list[Message | Note | ConversationEvent] = [*messages, *notes_qs, *events_qs]
    items.sort(key=lambda item: (item.created_at, item.pk))
    return items
