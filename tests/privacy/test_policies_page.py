from __future__ import annotations

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.practices.models import Role, Team
from converge.privacy.guard import privacy_settings
from converge.routing.services import routing_settings, rules_for
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db


def test_policies_page_changes_routing_and_privacy(practice, staff):
    manager = make_staff(practice, "Sarah Manager", Role.MANAGER)
    front = Client()
    front.force_login(staff.user)
    assert front.get("/settings/policies/").status_code == 403
    client = Client()
    client.force_login(manager.user)
    assert "Answer within" in client.get("/settings/policies/").content.decode()
    nursing = Team.objects.get(practice=practice, slug="nursing")
    form = {"form": "routing", "urgent_ack_minutes": "3"}
    for category in ("administrative", "scheduling", "refill", "clinical", "urgent"):
        form |= {f"{category}-team": str(nursing.pk), f"{category}-priority": "2", f"{category}-minutes": "30"}
    assert client.post("/settings/policies/", form).status_code == 302
    assert rules_for(practice.pk)["administrative"].team_id == nursing.pk
    client.post(
        "/settings/policies/",
        {
            "form": "privacy",
            "standard_channel_policy": "block",
            "clinical_confidentiality": "on",
            "mfa_required_roles": ["nurse"],
        },
    )
    settings = privacy_settings(practice.pk)
    assert (settings.standard_channel_policy, settings.clinical_confidentiality, settings.mfa_required_roles) == (
        "block",
        True,
        ["nurse"],
    )
    assert AuditEvent.objects.filter(action="privacy.settings").exists()
    response = client.post(
        "/settings/policies/", {"form": "privacy", "standard_channel_policy": "nonsense"}, follow=True
    )
    assert "Not saved" in response.content.decode()


def test_showing_the_policies_page_creates_no_rows(practice):
    from converge.privacy.models import PrivacySettings
    from converge.routing.models import RoutingRule, RoutingSettings

    manager = make_staff(practice, "Sarah Manager", Role.MANAGER)
    RoutingRule.objects.filter(practice=practice).delete()
    RoutingSettings.objects.filter(practice=practice).delete()
    PrivacySettings.objects.filter(practice=practice).delete()
    client = Client()
    client.force_login(manager.user)
    page = client.get("/settings/policies/").content.decode()
    assert 'name="urgent_ack_minutes"' in page and 'value="240"' in page  # the defaults, shown
    assert not RoutingRule.objects.filter(practice=practice).exists()
    assert not RoutingSettings.objects.filter(practice=practice).exists()
    assert not PrivacySettings.objects.filter(practice=practice).exists()


def test_a_wrong_rule_saves_none_of_the_routing_form(practice):
    manager = make_staff(practice, "Sarah Manager", Role.MANAGER)
    client = Client()
    client.force_login(manager.user)
    nursing = Team.objects.get(practice=practice, slug="nursing")
    before = {c: (r.team_id, r.priority, r.response_minutes) for c, r in rules_for(practice.pk).items()}
    form = {"form": "routing", "urgent_ack_minutes": "9"}
    for category in ("administrative", "scheduling", "refill", "clinical", "urgent"):
        form |= {f"{category}-team": str(nursing.pk), f"{category}-priority": "2", f"{category}-minutes": "30"}
    form["urgent-minutes"] = "0"  # the last rule is wrong
    response = client.post("/settings/policies/", form, follow=True)
    assert "Not saved: response_minutes" in response.content.decode()
    assert {c: (r.team_id, r.priority, r.response_minutes) for c, r in rules_for(practice.pk).items()} == before
    assert routing_settings(practice.pk).urgent_ack_minutes != 9
    assert not AuditEvent.objects.filter(action__in=["routing.rule", "routing.urgent_ack"]).exists()
    form["urgent-minutes"] = "30"
    client.post("/settings/policies/", form)
    assert routing_settings(practice.pk).urgent_ack_minutes == 9
    assert AuditEvent.objects.filter(action="routing.urgent_ack").count() == 1
    assert AuditEvent.objects.filter(action="routing.rule").count() == 5
