"""Reads for the manager's policies page. Reading never creates a settings row: a practice that
never saved its policies sees the defaults."""

from __future__ import annotations

from dataclasses import dataclass

from converge.practices.models import Team
from converge.privacy.guard import privacy_settings_read
from converge.privacy.models import PrivacySettings
from converge.routing.models import DEFAULT_RULES, RoutingRule, RoutingSettings
from converge.routing.selectors import routing_settings_read, rules_read


@dataclass(frozen=True)
class PoliciesPage:
    privacy: PrivacySettings
    routing: RoutingSettings
    rules: list[RoutingRule]  # in DEFAULT_RULES order
    teams: list[Team]


def practice_teams(practice_id: int) -> list[Team]:
    return list(Team.objects.filter(practice_id=practice_id).order_by("name"))


def policies_page(practice_id: int) -> PoliciesPage:
    rules = rules_read(practice_id)
    return PoliciesPage(
        privacy=privacy_settings_read(practice_id),
        routing=routing_settings_read(practice_id),
        rules=[rules[c] for c in DEFAULT_RULES],
        teams=practice_teams(practice_id),
    )
