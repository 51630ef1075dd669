"""@mentions in a team message: a colleague (@grace, by the handle the inbox's notes use, or
@Grace Kim), a team (@nursing, @front-desk or @Front desk) and @oncall (the practice's on-call
list, Settings → Policies)."""

from __future__ import annotations

import re

from converge.conversations.selectors import mentioned_staff
from converge.practices.models import StaffMember, Team

ONCALL = re.compile(r"(?<![\w@])@on-?call(?![\w-])", re.IGNORECASE)


def _named(lowered: str, name: str) -> bool:
    return bool(name) and re.search(r"(?<![\w@])@" + re.escape(name.lower()) + r"(?![\w-])", lowered) is not None


def mentioned_teams(*, practice_id: int, text: str) -> list[Team]:
    lowered = text.lower()
    return [
        t for t in Team.objects.filter(practice_id=practice_id) if _named(lowered, t.slug) or _named(lowered, t.name)
    ]


def on_call_staff(practice_id: int) -> list[StaffMember]:
    from converge.routing.oncall import on_call_targets
    from converge.routing.selectors import routing_settings_read

    ids = [t.staff_id for t in on_call_targets(routing_settings_read(practice_id)) if t.staff_id is not None]
    return list(StaffMember.objects.filter(practice_id=practice_id, pk__in=ids, is_active=True))


def mentioned(*, practice_id: int, text: str) -> list[StaffMember]:
    """Everyone the text mentions, once each, active staff of the practice only."""
    found: dict[int, StaffMember] = {s.pk: s for s in mentioned_staff(practice_id=practice_id, text=text)}
    for team in mentioned_teams(practice_id=practice_id, text=text):
        for member in team.members.filter(is_active=True):
            found.setdefault(member.pk, member)
    if ONCALL.search(text):
        for member in on_call_staff(practice_id):
            found.setdefault(member.pk, member)
    return list(found.values())
