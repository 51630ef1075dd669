"""How far behind reminder dispatch is, for /metrics: a count and a time, across every practice."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min

from converge.reminders.models import Reminder, ReminderStatus


@dataclass(frozen=True)
class RemindersDue:
    due: int  # planned and due by now, not yet dispatched
    oldest_due_at: datetime | None


def reminders_due(now: datetime) -> RemindersDue:
    row = Reminder.objects.filter(status=ReminderStatus.PLANNED, due_at__lte=now).aggregate(
        n=Count("id"), oldest=Min("due_at")
    )
    return RemindersDue(due=row["n"], oldest_due_at=row["oldest"])
