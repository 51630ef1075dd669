from __future__ import annotations

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.practices.models import Role, Team
from converge.privacy.guard import privacy_settings
from converge.routing.services import rules_for
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
