"""What other pages show of team messages: the top bar's unread badge and urgent banner, and a
conversation header's "Ask the team" with the topics linked to it."""

from __future__ import annotations

from typing import Any

from django import template

from converge.core.principal import staff_principal
from converge.teamchat import selectors
from converge.teamchat.models import TeamNotification

register = template.Library()


def _staff(context: template.Context) -> Any:
    user = context.get("user")
    return getattr(user, "staff", None) if user is not None and user.is_authenticated else None


@register.inclusion_tag("teamchat/_badge.html", takes_context=True)
def team_badge(context: template.Context) -> dict[str, Any]:
    staff = _staff(context)
    return {"unread": selectors.unread_total(staff=staff) if staff is not None else 0}


@register.inclusion_tag("teamchat/_urgent.html", takes_context=True)
def team_urgent(context: template.Context) -> dict[str, Any]:
    """Unread urgent team messages for this member, from the database (so a reload keeps them)."""
    staff = _staff(context)
    if staff is None:
        return {"alerts": []}
    alerts = list(
        TeamNotification.objects.filter(
            practice_id=staff.practice_id, staff=staff, kind=TeamNotification.Kind.URGENT, read_at__isnull=True
        )
        .select_related("message__author")
        .order_by("-id")[:3]
    )
    return {"alerts": alerts}


@register.inclusion_tag("teamchat/_ask.html", takes_context=True)
def ask_the_team(context: template.Context, conversation: Any) -> dict[str, Any]:
    staff = _staff(context)
    if staff is None:
        return {}
    return {
        "conversation": conversation,
        "channels": selectors.ask_channels(staff=staff),
        "csrf_token": context.get("csrf_token"),
    }


@register.inclusion_tag("teamchat/_linked.html", takes_context=True)
def linked_topics(context: template.Context, conversation: Any) -> dict[str, Any]:
    staff = _staff(context)
    if staff is None:
        return {"topics": []}
    principal = staff_principal(staff)
    topics = selectors.linked_topics(conversation=conversation, principal=principal)
    return {"topics": [(t, selectors.topic_title(t, principal)) for t in topics]}
