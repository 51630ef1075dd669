"""Staff administration over the API (issue 17): the page's operations through the same services,
for managers and administrators; a token reads the lists but does not change people."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from converge.accounts.models import StaffInvitation, StaffSession
from converge.audit.models import AuditEvent
from converge.practices.models import Role, StaffMember, Team
from converge.practices.services import api_token_create
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db


def as_staff(staff: StaffMember) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def call(client: Client, method: str, path: str, body: dict[str, Any] | None = None, **headers: str) -> Any:
    payload = json.dumps(body) if body is not None else None
    kwargs: dict[str, Any] = {"content_type": "application/json"} if payload else {}
    return client.generic(method, f"/api/v1{path}", payload or "", headers=headers, **kwargs)


@pytest.fixture
def manager(practice: Any) -> StaffMember:
    return make_staff(practice, "Grace Manager", Role.MANAGER)


def test_manager_invites_lists_and_withdraws(practice: Any, manager: StaffMember) -> None:
    client = as_staff(manager)
    nursing = Team.objects.get(practice=practice, slug="nursing")
    made = call(
        client,
        "POST",
        "/staff/invitations",
        {"email": "New.Nurse@example.org", "display_name": "New Nurse", "role": "nurse", "team_ids": [nursing.pk]},
    )
    assert made.status_code == 201, made.content
    body = made.json()
    assert body["invitation"]["email"] == "new.nurse@example.org"
    assert body["invitation"]["team_ids"] == [nursing.pk]
    listed = call(client, "GET", "/staff/invitations").json()
    assert [i["id"] for i in listed] == [body["invitation"]["id"]]
    gone = call(client, "POST", f"/staff/invitations/{body['invitation']['id']}/withdraw")
    assert gone.status_code == 200 and gone.json()["revoked_at"]
    assert call(client, "GET", "/staff/invitations").json() == []
    assert AuditEvent.objects.filter(action="staff.invite_revoke").count() == 1


def test_refusals_are_4xx_with_a_message(practice: Any, manager: StaffMember) -> None:
    client = as_staff(manager)
    bad_email = call(client, "POST", "/staff/invitations", {"email": "nope", "display_name": "X", "role": "nurse"})
    assert bad_email.status_code == 400 and "email" in bad_email.json()["detail"]
    admin_grant = call(
        client, "POST", "/staff/invitations", {"email": "a@example.org", "display_name": "A", "role": "admin"}
    )
    assert admin_grant.status_code == 403
    wrong_role = call(
        client, "POST", "/staff/invitations", {"email": "a@example.org", "display_name": "A", "role": "boss"}
    )
    assert wrong_role.status_code == 422 and "role" in wrong_role.json()["detail"]
    own_role = call(client, "PATCH", f"/staff/{manager.pk}", {"role": "nurse"})
    assert own_role.status_code == 400 and "own role" in own_role.json()["detail"]
    assert call(client, "POST", "/staff/999999/disable").status_code == 404


def test_disable_ends_sessions_and_enable_needs_a_free_seat(practice: Any, manager: StaffMember) -> None:
    client = as_staff(manager)
    member = make_staff(practice, "Dan Desk", Role.FRONT_DESK)
    StaffSession.objects.create(user=member.user, session_key="k" * 32, created_at=member.created_at)
    off = call(client, "POST", f"/staff/{member.pk}/disable")
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert not StaffSession.objects.filter(user=member.user).exists()
    practice.staff_seats = StaffMember.objects.filter(practice=practice, is_active=True).count()
    practice.save()
    full = call(client, "POST", f"/staff/{member.pk}/enable")
    assert full.status_code == 400 and "seats" in full.json()["detail"]
    practice.staff_seats += 1
    practice.save()
    on = call(client, "POST", f"/staff/{member.pk}/enable")
    assert on.status_code == 200 and on.json()["is_active"] is True


def test_change_role_and_teams_and_reset_mfa(practice: Any, manager: StaffMember) -> None:
    client = as_staff(manager)
    member = make_staff(practice, "Dan Desk", Role.FRONT_DESK)
    scheduling = Team.objects.get(practice=practice, slug="scheduling")
    changed = call(client, "PATCH", f"/staff/{member.pk}", {"role": "scheduler", "team_ids": [scheduling.pk]})
    assert changed.status_code == 200, changed.content
    assert changed.json()["role"] == "scheduler" and changed.json()["team_ids"] == [scheduling.pk]
    assert call(client, "POST", f"/staff/{member.pk}/mfa/reset").status_code == 200
    assert AuditEvent.objects.filter(action="auth.mfa_reset").exists()
    listed = call(client, "GET", "/staff").json()
    assert {m["display_name"] for m in listed["items"]} == {"Grace Manager", "Dan Desk"}
    assert listed["seats"]["limit"] == practice.staff_seats


def test_other_roles_are_refused_and_a_token_only_reads(practice: Any, manager: StaffMember) -> None:
    nurse = make_staff(practice, "Nora Nurse", Role.NURSE)
    assert call(as_staff(nurse), "GET", "/staff").status_code == 403
    _token, secret = api_token_create(practice=practice, name="hr")
    bearer = {"Authorization": f"Bearer {secret}"}
    assert call(Client(), "GET", "/staff", **bearer).status_code == 200
    refused = call(Client(), "POST", f"/staff/{nurse.pk}/disable", **bearer)
    assert refused.status_code == 400 and "signed-in manager" in refused.json()["detail"]
    assert StaffMember.objects.get(pk=nurse.pk).is_active


def test_another_practices_staff_is_not_found(practice: Any, manager: StaffMember, other_practice: Any) -> None:
    stranger = make_staff(other_practice, "Out Sider", Role.FRONT_DESK)
    client = as_staff(manager)
    assert call(client, "POST", f"/staff/{stranger.pk}/disable").status_code == 404
    invitation = StaffInvitation.objects.create(
        practice=other_practice,
        email="x@example.org",
        display_name="X",
        role="nurse",
        token_hash="h" * 64,
        created_at=stranger.created_at,
        expires_at=stranger.created_at,
    )
    assert call(client, "POST", f"/staff/invitations/{invitation.pk}/withdraw").status_code == 404


def test_seat_limit_over_the_api(practice: Any, manager: StaffMember) -> None:
    client = as_staff(manager)
    low = call(client, "PUT", "/staff/seats", {"limit": 0})
    assert low.status_code == 422
    assert call(client, "PUT", "/staff/seats", {"limit": 1}).json() == {
        "limit": 1,
        "active": 1,
        "invited": 0,
        "free": 0,
    }
    make_staff(practice, "Dan Desk", Role.FRONT_DESK)
    refused = call(client, "PUT", "/staff/seats", {"limit": 1})
    assert refused.status_code == 400 and "2 are in use" in refused.json()["detail"]


def test_the_on_call_rota_over_the_api(practice: Any, manager: StaffMember) -> None:
    client = as_staff(manager)
    nurse = make_staff(practice, "Wes Weekend", Role.NURSE, phone="+15559870003")
    body = {"staff_id": nurse.pk, "weekdays": [0, 1, 2, 3, 4, 5, 6], "start_time": "00:00", "end_time": "00:00"}
    made = call(client, "POST", "/oncall/shifts", body)
    assert made.status_code == 201, made.content
    assert made.json()["description"] == "Every Mon, Tue, Wed, Thu, Fri, Sat, Sun, all day"
    listed = call(client, "GET", "/oncall/shifts").json()
    assert listed["staff_ids"] == [nurse.pk] and len(listed["shifts"]) == 1
    neither = call(client, "POST", "/oncall/shifts", {**body, "weekdays": []})
    assert neither.status_code == 400 and neither.json()["detail"].startswith("start_date:")
    assert call(as_staff(nurse), "GET", "/oncall/shifts").status_code == 403
    gone = call(client, "POST", f"/oncall/shifts/{made.json()['id']}/remove")
    assert gone.status_code == 200
    assert call(client, "POST", f"/oncall/shifts/{made.json()['id']}/remove").status_code == 404
