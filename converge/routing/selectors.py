"""Reads of urgent alerts for the staff screens: the practice's unacknowledged alerts, one per
conversation, each saying whose it is only to a reader who may open that conversation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Exists, Min, OuterRef, Prefetch

from converge.conversations.models import Conversation
from converge.core.principal import Principal
from converge.patients.models import ContactPoint
from converge.practices.models import Team
from converge.privacy import access
from converge.routing.models import DEFAULT_RULES, RoutingRule, RoutingSettings, UrgentAlert

SHOWN = 5  # alerts listed in the banner; the rest are counted ("and 3 more")


@dataclass(frozen=True)
class OpenAlert:
    conversation_id: int
    since: datetime
    readable: bool
    patient_name: str  # "" when the reader may not open the conversation


@dataclass(frozen=True)
class OpenAlerts:
    shown: list[OpenAlert]
    more: int


def open_alerts(*, principal: Principal) -> OpenAlerts:
    """Unacknowledged urgent alerts of the principal's practice, oldest first, in a fixed number
    of queries. Every member sees that an alert waits (somebody must act on it); the patient's name
    only a member who may read the conversation under clinical confidentiality."""
    waiting = list(
        UrgentAlert.objects.filter(practice_id=principal.practice_id, acknowledged_at__isnull=True)
        .values("conversation_id")
        .annotate(since=Min("created_at"))
        .order_by("since", "conversation_id")
    )
    if not waiting:
        return OpenAlerts(shown=[], more=0)
    first = waiting[:SHOWN]
    readable = access.visible(Conversation.objects.filter(pk=OuterRef("pk")), principal)
    conversations = {
        c.pk: c
        for c in Conversation.objects.filter(
            practice_id=principal.practice_id, pk__in=[row["conversation_id"] for row in first]
        )
        .annotate(readable=Exists(readable))
        .select_related("patient")
        .prefetch_related(Prefetch("patient__contact_points", queryset=ContactPoint.objects.order_by("id")))
    }
    shown = []
    for row in first:
        c = conversations.get(row["conversation_id"])
        if c is None:
            continue
        may = bool(c.readable)  # type: ignore[attr-defined]
        shown.append(
            OpenAlert(
                conversation_id=c.pk,
                since=row["since"],
                readable=may,
                patient_name=c.patient.display_name if may else "",
            )
        )
    return OpenAlerts(shown=shown, more=len(waiting) - len(first))


def rules_read(practice_id: int) -> dict[str, RoutingRule]:
    """The practice's routing rules for pages and GET endpoints, by category: a category with no
    row yet reads as its unsaved default (rules_for, on the write paths, creates the rows)."""
    rules = {r.category: r for r in RoutingRule.objects.filter(practice_id=practice_id).select_related("team")}
    missing = [c for c in DEFAULT_RULES if c not in rules]
    if missing:
        teams = {t.slug: t for t in Team.objects.filter(practice_id=practice_id)}
        for category in missing:
            slug, priority, minutes = DEFAULT_RULES[category]
            rules[category] = RoutingRule(
                practice_id=practice_id,
                category=category,
                team=teams.get(slug),
                priority=priority,
                response_minutes=minutes,
            )
    return rules


def routing_settings_read(practice_id: int) -> RoutingSettings:
    """The practice's routing settings, or unsaved defaults: reading never creates the row."""
    return RoutingSettings.objects.filter(practice_id=practice_id).first() or RoutingSettings(practice_id=practice_id)
