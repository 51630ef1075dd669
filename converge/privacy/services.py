"""Writes behind the manager's policies page: the privacy settings, and the routing policies
(one rule per category, the urgent acknowledgement time, the on-call list) as one change."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from converge.audit.services import audit_record
from converge.practices.models import Role, Team
from converge.privacy.guard import privacy_settings
from converge.privacy.models import PhiPolicy, PrivacySettings
from converge.routing.models import DEFAULT_RULES
from converge.routing.oncall import on_call_list_update
from converge.routing.services import routing_settings, rule_update

URGENT_ACK_MINUTES = range(1, 121)


@dataclass(frozen=True)
class RuleChange:
    team: Team | None
    priority: int
    response_minutes: int


def privacy_update(*, practice_id: int, actor: object, **changes: object) -> PrivacySettings:
    if "standard_channel_policy" in changes and changes["standard_channel_policy"] not in PhiPolicy.values:
        raise ValueError("standard_channel_policy: warn, block or convert")
    roles = changes.get("mfa_required_roles")
    if roles is not None and (not isinstance(roles, list) or not set(roles) <= set(Role.values)):
        raise ValueError("mfa_required_roles: unknown role")
    with transaction.atomic():
        settings = privacy_settings(practice_id)
        for name, value in changes.items():
            setattr(settings, name, value)
        settings.save(update_fields=list(changes))
        audit_record(
            practice_id=practice_id,
            actor=actor,
            action="privacy.settings",
            obj=settings,
            detail={k: v for k, v in changes.items() if k != "mfa_required_roles"} | {"mfa_roles": roles},
        )
    return settings


def routing_policies_update(
    *,
    practice_id: int,
    actor: object,
    rules: dict[str, RuleChange],
    urgent_ack_minutes: int,
    on_call_text: str | None,
) -> None:
    """All of the form or none of it: a wrong rule, minute count or on-call entry saves nothing.
    Each rule and the on-call list audit themselves; the acknowledgement time has its own row."""
    if set(rules) != set(DEFAULT_RULES):
        raise ValueError(f"rules: one for each of {', '.join(DEFAULT_RULES)}")
    if urgent_ack_minutes not in URGENT_ACK_MINUTES:
        raise ValueError("urgent_ack_minutes: between 1 and 120")
    with transaction.atomic():
        for category, change in rules.items():
            rule_update(
                practice_id=practice_id,
                category=category,
                actor=actor,
                team=change.team,
                priority=change.priority,
                response_minutes=change.response_minutes,
            )
        settings = routing_settings(practice_id)
        if settings.urgent_ack_minutes != urgent_ack_minutes:
            settings.urgent_ack_minutes = urgent_ack_minutes
            settings.save(update_fields=["urgent_ack_minutes"])
            audit_record(
                practice_id=practice_id,
                actor=actor,
                action="routing.urgent_ack",
                obj=settings,
                detail={"minutes": urgent_ack_minutes},
            )
        if on_call_text is not None:
            on_call_list_update(settings=settings, actor=actor, text=on_call_text)
