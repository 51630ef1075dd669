"""Labels the staff screens show, computed once in Python: Django's `date` filter is slow
enough per call to dominate a 200-message thread."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, tzinfo
from typing import Any

from django.utils import timezone

from converge.core import clock
from converge.core.clock import clock_label

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_LONG = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def short_label(value: datetime, tz: tzinfo | None = None) -> str:
    """`Mar 3, 2:05 PM`"""
    local = value.astimezone(tz or timezone.get_current_timezone())
    return f"{_MONTHS[local.month - 1]} {local.day}, {clock_label(local)}"


def day_label(local: datetime, today: datetime) -> str:
    days = (today.date() - local.date()).days
    if days == 0:
        return "Today"
    if days == 1:
        return "Yesterday"
    label = f"{_DAYS[local.weekday()]}, {_MONTHS_LONG[local.month - 1]} {local.day}"
    return label if local.year == today.year else f"{label}, {local.year}"


def age_label(value: datetime, now: datetime) -> str:
    """A compact age: "now", "5m", "3h", "2d", "6w" (the `age` filter, once per row here)."""
    seconds = max(0, int((now - value).total_seconds()))
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return "now"


def label_thread(items: Iterable[Any]) -> None:
    """Give every thread item `time_label` and, where the day changes, `day_label`."""
    tz = timezone.get_current_timezone()
    today = clock.now().astimezone(tz)
    previous = None
    for item in items:
        local = item.created_at.astimezone(tz)
        item.time_label = clock_label(local)
        item.iso = item.created_at.isoformat()
        item.day_label = day_label(local, today) if local.date() != previous else ""
        previous = local.date()


def label_rows(conversations: Iterable[Any], response_minutes: dict[str, int] | None = None) -> None:
    """Display labels; with the practice's response targets, also whether each waiting
    conversation is past its target (`overdue`)."""
    tz = timezone.get_current_timezone()
    now = clock.now()
    targets = response_minutes or {}
    for c in conversations:
        target = targets.get(c.category or "administrative")
        c.overdue = bool(
            c.waiting_since
            and c.status != "resolved"
            and target
            and (now - c.waiting_since).total_seconds() > target * 60
        )
        c.when_label = short_label(c.last_message_at, tz)
        c.age_label = age_label(c.last_message_at, now)
        c.waiting_age = age_label(c.waiting_since, now) if c.waiting_since else ""
        # "Maria Lopez · Front desk", the row's assignee line and its title (the select_related
        # assignee and team: no query).
        who = c.assignee.display_name if c.assignee_id else "Unassigned"
        c.assignee_line = f"{who} · {c.team.name}" if c.team_id else who
        c.iso = c.last_message_at.isoformat()
        c.waiting_label = short_label(c.waiting_since, tz) if c.waiting_since else ""
        c.snoozed_label = short_label(c.snoozed_until, tz) if c.snoozed_until else ""
