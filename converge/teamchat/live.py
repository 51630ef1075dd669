"""Typing in a topic or a direct conversation, relayed by the staff WebSocket consumer to the
people who can read it (never the whole practice); and a page going idle or coming back, which
shows its member as away."""

from __future__ import annotations

from typing import Any

from django.http import Http404

from converge.core import events
from converge.practices.models import StaffMember
from converge.teamchat import access, services


def typing_event(*, staff_id: int, content: dict[str, Any]) -> tuple[list[str], dict[str, Any]] | None:
    staff = StaffMember.objects.filter(pk=staff_id, is_active=True).first()
    topic_id, dm_id = content.get("topic_id"), content.get("dm_id")
    if staff is None:
        return None
    try:
        if isinstance(topic_id, int) and not isinstance(topic_id, bool):
            topic = access.topic_get(staff=staff, topic_id=topic_id)
            user_ids = access.topic_recipient_user_ids(topic)
            where: dict[str, Any] = {"topic_id": topic.pk}
        elif isinstance(dm_id, int) and not isinstance(dm_id, bool):
            thread = access.thread_get(staff=staff, thread_id=dm_id)
            user_ids = access.thread_recipient_user_ids(thread)
            where = {"dm_id": thread.pk}
        else:
            return None
    except Http404:
        return None
    groups = [events.user_group(uid) for uid in user_ids if uid != staff.user_id]
    return groups, {"type": "team.typing", **where, "staff_id": staff.pk, "staff_name": staff.display_name}


def idle_changed(*, staff_id: int, content: dict[str, Any]) -> bool:
    idle = content.get("idle")
    if not isinstance(idle, bool):
        return False
    return services.status_idle(staff_id=staff_id, idle=idle)
