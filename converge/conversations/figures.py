"""Inbox figures a practice manager watches, by week (weeks start on Monday in the practice's
time zone): how fast patients get a first answer, and how many conversations each team has open.

* First response: the first outbound message written by a person (not automatic) after the
  first inbound message of a conversation; counted in the week of that inbound message.
* Open at the end of a week: started before the week ended and not resolved by then. Only the
  latest resolution is kept on a conversation, so one that was resolved and later reopened
  counts as open since it started.

Two queries in all, whatever the number of conversations.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Count, OuterRef, Q, Subquery

from converge.conversations.models import Conversation, Direction, Message
from converge.core import clock
from converge.practices.models import Practice

NO_TEAM = "No team"


@dataclass
class TeamOpen:
    team_id: int | None
    team: str
    open: int


@dataclass
class InboxWeek:
    week: date
    first_contacts: int = 0  # conversations whose first inbound message fell in the week
    answered: int = 0  # ... of which a person has answered
    median_first_response_seconds: int | None = None
    open_by_team: list[TeamOpen] = field(default_factory=list)

    @property
    def open_total(self) -> int:
        return sum(t.open for t in self.open_by_team)

    def as_dict(self) -> dict[str, object]:
        return {
            "week": self.week.isoformat(),
            "first_contacts": self.first_contacts,
            "answered": self.answered,
            "median_first_response_seconds": self.median_first_response_seconds,
            "open_total": self.open_total,
            "open_by_team": [{"team_id": t.team_id, "team": t.team, "open": t.open} for t in self.open_by_team],
        }


def _weeks(practice: Practice, weeks: int) -> tuple[ZoneInfo, list[date], list[datetime]]:
    zone = ZoneInfo(practice.time_zone)
    today = clock.now().astimezone(zone).date()
    first_monday = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    mondays = [first_monday + timedelta(weeks=i) for i in range(weeks)]
    # Week boundaries as instants; a list of `weeks + 1` edges, DST-safe (local midnights).
    edges = [
        datetime.combine(m, datetime.min.time(), tzinfo=zone) for m in [*mondays, mondays[-1] + timedelta(weeks=1)]
    ]
    return zone, mondays, edges


def inbox_figures(*, practice: Practice, weeks: int = 8) -> list[InboxWeek]:
    zone, mondays, edges = _weeks(practice, weeks)
    rows = {m: InboxWeek(week=m) for m in mondays}
    now = clock.now()

    # 1. First inbound and first human answer after it, per conversation, in one query.
    messages = Message.objects.filter(conversation=OuterRef("pk"))
    first_in = messages.filter(direction=Direction.INBOUND).order_by("created_at", "id").values("created_at")[:1]
    first_out = (
        messages.filter(direction=Direction.OUTBOUND, is_automatic=False, created_at__gte=OuterRef("first_in"))
        .order_by("created_at", "id")
        .values("created_at")[:1]
    )
    answered: dict[date, list[float]] = defaultdict(list)
    for started, replied in (
        Conversation.objects.filter(practice_id=practice.pk)
        .annotate(first_in=Subquery(first_in))
        .filter(first_in__gte=edges[0], first_in__lt=edges[-1])
        .annotate(first_out=Subquery(first_out))
        .values_list("first_in", "first_out")
    ):
        local = started.astimezone(zone).date()
        week = rows[local - timedelta(days=local.weekday())]
        week.first_contacts += 1
        if replied is not None:
            week.answered += 1
            answered[week.week].append((replied - started).total_seconds())
    for monday, seconds in answered.items():
        rows[monday].median_first_response_seconds = round(statistics.median(seconds))

    # 2. Open at each week's end (or now, for the current week), by team, in one query.
    ends = [min(edge, now) for edge in edges[1:]]
    counts = {
        f"w{i}": Count("id", filter=Q(created_at__lt=end) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=end)))
        for i, end in enumerate(ends)
    }
    per_team = (
        Conversation.objects.filter(practice_id=practice.pk, created_at__lt=ends[-1])
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gt=ends[0]))
        .values("team_id", "team__name")
        .annotate(**counts)
        .order_by("team__name", "team_id")
    )
    for team in per_team:
        counted: dict[str, Any] = dict(team)
        for i, monday in enumerate(mondays):
            rows[monday].open_by_team.append(
                TeamOpen(team_id=counted["team_id"], team=counted["team__name"] or NO_TEAM, open=counted[f"w{i}"])
            )
    return [rows[m] for m in mondays]
