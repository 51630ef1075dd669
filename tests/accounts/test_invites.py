"""Inviting staff (issue 17): a manager invites, the invitee sets a password through a single-use,
expiring link and signs in with the role and teams given; the seat limit counts pending
invitations; role and team changes follow the staff-management rule; everything is audited."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from converge.accounts import invites, mail
from converge.accounts.models import StaffInvitation
from converge.audit.models import AuditEvent
from converge.connectors.models import Channel, Provider
from converge.core import clock
from converge.practices.models import Role, StaffMember, Team
from converge.privacy.guard import privacy_settings
from tests.conftest import clear_cache
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "lantern-orchard-4471"


def client_for(staff: StaffMember) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


@pytest.fixture
def manager(practice: Any) -> StaffMember:
    return make_staff(practice, "Grace Manager", Role.MANAGER)


@pytest.fixture
def admin(practice: Any) -> StaffMember:
    return make_staff(practice, "Ada Admin", Role.ADMIN)


def invite(client: Client, **fields: Any) -> Any:
    data = {"display_name": "Nora Nurse", "email": "nora@sunrise.example", "role": Role.NURSE, **fields}
    return client.post("/settings/staff/invite", data)


def link_on(response: Any) -> str:
    match = re.search(r'value="(http[^"]+/invite/([^"]+))"', response.content.decode())
    assert match, "the page shows the link to copy"
    return "/invite/" + match.group(2)


def test_invite_then_accept_signs_in_with_the_role_and_teams(practice, manager):
    nursing = Team.objects.get(practice=practice, slug="nursing")
    response = invite(client_for(manager), teams=[str(nursing.pk)])
    assert response.status_code == 200
    page = response.content.decode()
    assert "no email channel" in page and "shown only this once" in page
    path = link_on(response)
    assert get_user_model().objects.filter(email="nora@sunrise.example").count() == 0  # not before acceptance

    browser = Client()
    form = browser.get(path)
    assert form.status_code == 200 and "Nora Nurse" in form.content.decode()
    done = browser.post(path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 302 and done.url == "/"
    nora = StaffMember.objects.get(user__email="nora@sunrise.example")
    assert nora.practice_id == practice.pk and nora.role == Role.NURSE
    assert list(nora.teams.values_list("slug", flat=True)) == ["nursing"]
    assert browser.get("/").status_code == 200  # signed in by accepting

    fresh = Client()
    assert fresh.post("/login/", {"email": "nora@sunrise.example", "password": NEW_PASSWORD}).status_code == 302
    assert fresh.get("/").status_code == 200
    actions = set(AuditEvent.objects.filter(practice_id=practice.pk).values_list("action", flat=True))
    assert {"staff.invite", "staff.invite_accept", "staff.create"} <= actions


def test_the_link_works_once_and_is_stored_only_as_a_hash(practice, manager):
    path = link_on(invite(client_for(manager)))
    token = path.rsplit("/", 1)[1]
    row = StaffInvitation.objects.get(email="nora@sunrise.example")
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(list(StaffInvitation.objects.values()))
    assert token not in str(list(AuditEvent.objects.values()))
    assert row.expires_at - row.created_at == timedelta(hours=72)
    Client().post(path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    again = Client()
    assert again.get(path).status_code == 410
    second = again.post(path, {"password": "other-secret-99871", "password_again": "other-secret-99871"})
    assert second.status_code == 410 and "already been used" in second.content.decode()
    assert StaffMember.objects.filter(user__email="nora@sunrise.example").count() == 1


def test_an_expired_or_unknown_link_is_a_clear_page_not_an_error(practice, manager):
    path = link_on(invite(client_for(manager)))
    assert Client().get("/invite/nothing-like-a-token").status_code == 404
    assert Client().get("/invite/" + "x" * 500).status_code == 404
    clock.advance(timedelta(hours=72, seconds=1))
    expired = Client().post(path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert expired.status_code == 410 and "expired" in expired.content.decode()
    assert not get_user_model().objects.filter(email="nora@sunrise.example").exists()


def test_a_weak_or_mismatched_password_is_refused(practice, manager):
    path = link_on(invite(client_for(manager)))
    weak = Client().post(path, {"password": "password", "password_again": "password"})
    assert weak.status_code == 400
    mismatch = Client().post(path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD + "x"})
    assert mismatch.status_code == 400 and "do not match" in mismatch.content.decode()
    nul = Client().post(path, {"password": NEW_PASSWORD + "\x00", "password_again": NEW_PASSWORD + "\x00"})
    assert nul.status_code == 400
    assert not get_user_model().objects.filter(email="nora@sunrise.example").exists()
    assert StaffInvitation.objects.get().used_at is None


def test_a_role_that_requires_a_second_factor_goes_on_to_enrol(practice, manager):
    settings = privacy_settings(practice.pk)
    settings.mfa_required_roles = [Role.NURSE]
    settings.save()
    clear_cache()
    path = link_on(invite(client_for(manager)))
    browser = Client()
    assert "two-step sign-in" in browser.get(path).content.decode()
    done = browser.post(path, {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert done.status_code == 302 and done.url == "/account/mfa/"
    assert browser.get("/").url == "/account/mfa/"  # nothing else until enrolled
    assert browser.get("/account/mfa/").status_code == 200


def test_the_invitation_is_emailed_through_the_practices_mailbox(practice, manager, monkeypatch):
    channel = Channel.objects.create(
        practice=practice,
        kind="email",
        provider=Provider.MAILBOX,
        name="Front desk mail",
        display_address="desk@sunrise.example",
        settings={"smtp": {"host": "smtp.sunrise.example", "port": 587, "tls": "starttls"}},
    )
    channel.set_credentials({"smtp_user": "desk", "smtp_password": "pw"})
    channel.save()
    sent: list[Any] = []

    from converge.providers.email.smtp import SmtpSender
    from converge.providers.types import ProviderReceipt

    def fake_send(self: SmtpSender, message: Any, **kw: Any) -> ProviderReceipt:
        sent.append((self.host, message))
        return ProviderReceipt(provider_message_id="<x@sunrise.example>")

    monkeypatch.setattr(SmtpSender, "send", fake_send)
    response = invite(client_for(manager))
    assert response.status_code == 302
    assert sent == []  # not inside the request: the worker sends it
    assert "Sending" in client_for(manager).get("/settings/staff/").content.decode()
    assert mail.send_due() == 1
    [(host, message)] = sent
    assert host == "smtp.sunrise.example" and message.to_address == "nora@sunrise.example"
    token = re.search(r"/invite/(\S+)", message.body).group(1)  # type: ignore[union-attr]
    assert Client().get(f"/invite/{token}").status_code == 200
    page = client_for(manager).get("/settings/staff/").content.decode()
    assert token not in page and "nora@sunrise.example" in page  # listed as pending, link not shown
    assert AuditEvent.objects.filter(action="staff.invite_sent").exists()
    invitation = StaffInvitation.objects.get(email="nora@sunrise.example")
    assert invitation.mail_status == "sent" and invitation.mail_secret == ""  # only the hash is left
    assert mail.send_due() == 0  # sent once


def test_a_failing_mailbox_retries_then_says_so_and_a_withdrawn_one_is_not_sent(practice, manager, monkeypatch, caplog):
    Channel.objects.create(
        practice=practice,
        kind="email",
        provider=Provider.MAILBOX,
        name="Mail",
        display_address="desk@sunrise.example",
        settings={"smtp": {"host": "smtp.sunrise.example"}},
    )
    from converge.providers.email.smtp import SmtpSender
    from converge.providers.types import RetryableSendError

    calls: list[Any] = []

    def failing(self: SmtpSender, message: Any, **kw: Any) -> Any:
        calls.append(message)
        raise RetryableSendError("down")

    monkeypatch.setattr(SmtpSender, "send", failing)
    response = invite(client_for(manager))
    assert response.status_code == 302  # queued; no link on the page
    invitation = StaffInvitation.objects.get(email="nora@sunrise.example")
    for attempt in range(1, mail.MAX_ATTEMPTS + 1):
        assert mail.send_due() == 0
        invitation.refresh_from_db()
        assert invitation.mail_attempts == attempt
        StaffInvitation.objects.filter(pk=invitation.pk).update(mail_next_at=clock.now())  # the backoff is over
    invitation.refresh_from_db()
    assert invitation.mail_status == "failed" and invitation.mail_secret == ""
    assert len(calls) == mail.MAX_ATTEMPTS
    assert "Could not be sent" in client_for(manager).get("/settings/staff/").content.decode()
    assert AuditEvent.objects.filter(action="staff.invite_mail_failed").count() == 1
    token = re.search(r"/invite/(\S+)", calls[0].body).group(1)  # type: ignore[union-attr]
    assert token not in caplog.text and "nora@sunrise.example" not in caplog.text

    # A second invitation withdrawn before the worker runs is never sent.
    calls.clear()
    invite(client_for(manager))
    again = StaffInvitation.objects.filter(email="nora@sunrise.example", revoked_at=None).get()
    assert client_for(manager).post(f"/settings/staff/invitations/{again.pk}/revoke").status_code == 302
    assert mail.send_due() == 0 and calls == []
    again.refresh_from_db()
    assert again.mail_status == "cancelled" and again.mail_secret == ""


def test_the_invitation_link_is_redacted_in_logs() -> None:
    from converge.core.logfilters import redact

    assert redact('"GET /invite/AbC-123_x HTTP/1.1" 200') == '"GET /invite/[redacted] HTTP/1.1" 200'


def test_the_seat_limit_counts_pending_invitations(practice, manager):
    practice.staff_seats = 3
    practice.save(update_fields=["staff_seats"])
    make_staff(practice, "Desk One", Role.FRONT_DESK)  # manager + desk = 2 of 3
    client = client_for(manager)
    assert "2 of 3 seats used" in client.get("/settings/staff/").content.decode()
    assert invite(client).status_code == 200
    page = client.get("/settings/staff/").content.decode()
    assert "3 of 3 seats used" in page and "1 pending invitation" in page
    refused = invite(client, email="oscar@sunrise.example", display_name="Oscar")
    assert refused.status_code == 400 and "All 3 staff seats are in use" in refused.content.decode()
    assert StaffInvitation.objects.count() == 1
    # Inviting the same person again replaces the pending invitation instead of taking a seat.
    assert invite(client).status_code == 200
    assert invites.pending(practice.pk).count() == 1
    # Withdrawing frees the seat.
    pending = invites.pending(practice.pk).get()
    assert client.post(f"/settings/staff/invitations/{pending.pk}/revoke").status_code == 302
    assert invites.seats(practice).used == 2
    assert AuditEvent.objects.filter(action="staff.invite_revoke").exists()


def test_a_manager_cannot_invite_an_administrator_but_an_administrator_can(practice, manager, admin):
    assert invite(client_for(manager), role=Role.ADMIN).status_code == 403
    assert not StaffInvitation.objects.exists()
    assert "Administrator" not in client_for(manager).get("/settings/staff/").content.decode().split("Invite a")[1]
    assert invite(client_for(admin), role=Role.ADMIN).status_code == 200


def test_front_desk_may_not_invite_change_or_revoke(practice, staff, manager):
    invite(client_for(manager))
    pending = StaffInvitation.objects.get()
    desk = client_for(staff)
    assert invite(desk, email="eve@sunrise.example").status_code == 403
    assert desk.post(f"/settings/staff/{manager.pk}/change", {"role": Role.FRONT_DESK}).status_code == 403
    assert desk.post(f"/settings/staff/invitations/{pending.pk}/revoke").status_code == 403
    assert StaffInvitation.objects.count() == 1 and StaffInvitation.objects.get().revoked_at is None


def test_another_practices_invitation_is_not_usable(practice, other_practice, manager):
    theirs, token = invites.invitation_create(
        actor=make_staff(other_practice, "Harbor Manager", Role.MANAGER),
        email="hal@harbor.example",
        display_name="Hal Harbor",
        role=Role.FRONT_DESK,
        team_ids=[],
    )
    client = client_for(manager)
    assert client.post(f"/settings/staff/invitations/{theirs.pk}/revoke").status_code == 404
    assert "Hal Harbor" not in client.get("/settings/staff/").content.decode()
    sunrise_team = Team.objects.filter(practice=practice).first()
    assert sunrise_team is not None
    crossed = invite(client, teams=[str(Team.objects.filter(practice=other_practice).first().pk)])  # type: ignore[union-attr]
    assert crossed.status_code == 400
    # Accepted, it makes an account in the practice that invited, never in the visitor's.
    Client().post(f"/invite/{token}", {"password": NEW_PASSWORD, "password_again": NEW_PASSWORD})
    assert StaffMember.objects.get(user__email="hal@harbor.example").practice_id == other_practice.pk


@pytest.mark.parametrize(
    "fields",
    [
        {"display_name": "N" * 500},
        {"display_name": "Nora\x00Nurse"},
        {"display_name": "   "},
        {"email": "not-an-email"},
        {"email": "nora\x00@sunrise.example"},
        {"email": "a" * 300 + "@sunrise.example"},
        {"role": "superuser"},
        {"teams": ["not-a-number"]},
        {"teams": ["999999"]},
    ],
)
def test_hostile_input_is_refused(practice, manager, fields):
    response = invite(client_for(manager), **fields)
    assert 400 <= response.status_code < 500
    assert not StaffInvitation.objects.exists()


def test_an_existing_account_cannot_be_invited(practice, manager, staff):
    response = invite(client_for(manager), email=staff.user.email.upper())
    assert response.status_code == 400 and "already has a Converge account" in response.content.decode()


def test_change_role_and_teams(practice, manager, staff):
    nursing = Team.objects.get(practice=practice, slug="nursing")
    before = sorted(staff.teams.values_list("slug", flat=True))
    client = client_for(manager)
    response = client.post(f"/settings/staff/{staff.pk}/change", {"role": Role.NURSE, "teams": [str(nursing.pk)]})
    assert response.status_code == 302
    staff.refresh_from_db()
    assert staff.role == Role.NURSE and list(staff.teams.all()) == [nursing]
    role_event = AuditEvent.objects.get(action="staff.role", object_id=str(staff.pk))
    assert role_event.detail == {"from": Role.FRONT_DESK, "to": Role.NURSE}
    assert AuditEvent.objects.get(action="staff.teams").detail == {"from": before, "to": ["nursing"]}


def test_change_follows_the_staff_management_rule(practice, manager, admin, staff):
    client = client_for(manager)
    assert client.post(f"/settings/staff/{staff.pk}/change", {"role": Role.ADMIN}).status_code == 403
    assert client.post(f"/settings/staff/{admin.pk}/change", {"role": Role.FRONT_DESK}).status_code == 403
    refused = client.post(f"/settings/staff/{manager.pk}/change", {"role": Role.FRONT_DESK})
    assert refused.status_code == 400 and "your own role" in refused.content.decode()
    manager.refresh_from_db()
    admin.refresh_from_db()
    staff.refresh_from_db()
    assert (manager.role, admin.role, staff.role) == (Role.MANAGER, Role.ADMIN, Role.FRONT_DESK)
    # One's own teams may change.
    front = Team.objects.get(practice=practice, slug="front-desk")
    assert (
        client.post(f"/settings/staff/{manager.pk}/change", {"role": Role.MANAGER, "teams": [front.pk]}).status_code
        == 302
    )
    assert list(manager.teams.all()) == [front]
    assert client.post(f"/settings/staff/{staff.pk}/change", {"role": "nope"}).status_code == 400


def test_enabling_someone_needs_a_free_seat(practice, manager, staff):
    client = client_for(manager)
    client.post(f"/settings/staff/{staff.pk}/active", {"active": "0"})
    practice.staff_seats = 1
    practice.save(update_fields=["staff_seats"])
    refused = client.post(f"/settings/staff/{staff.pk}/active", {"active": "1"})
    assert refused.status_code == 400 and "seats are in use" in refused.content.decode()
    staff.refresh_from_db()
    assert not staff.is_active


def test_the_public_route_is_rate_limited(practice, monkeypatch):
    from converge.core import throttle

    # One counting window for the whole burst (it may not straddle a minute boundary).
    monkeypatch.setattr(throttle.time, "time", lambda: 1_800_000_010.0)
    clear_cache()
    limit = {prefix: n for prefix, n, _methods in throttle.LIMITS}["/invite/"]
    statuses = [Client().get(f"/invite/guess-{i}").status_code for i in range(limit + 3)]
    assert statuses[0] == 404 and statuses[-1] == 429
    clear_cache()


def test_the_seat_limit_is_a_setting_never_below_the_seats_in_use(practice: Any, manager: StaffMember) -> None:
    client = client_for(manager)
    make_staff(practice, "Dan Desk", Role.FRONT_DESK)
    invites.invitation_create(actor=manager, email="pending@example.org", display_name="P", role="nurse", team_ids=[])
    page = client.get("/settings/staff/").content.decode()
    assert 'name="staff_seats"' in page and 'value="15"' in page
    too_low = client.post("/settings/staff/seats", {"staff_seats": "2"})
    assert too_low.status_code == 400 and "3 are in use" in too_low.content.decode()
    assert client.post("/settings/staff/seats", {"staff_seats": "many"}).status_code == 400
    assert client.post("/settings/staff/seats", {"staff_seats": "3"}).status_code == 302
    practice.refresh_from_db()
    assert practice.staff_seats == 3
    event = AuditEvent.objects.get(action="practice.staff_seats")
    assert event.detail == {"from": 15, "to": 3}
    full = client.post("/settings/staff/invite", {"display_name": "X", "email": "x@example.org", "role": "nurse"})
    assert full.status_code == 400 and "All 3 staff seats" in full.content.decode()
    nurse = make_staff(practice, "Nora Nurse", Role.NURSE)
    assert client_for(nurse).post("/settings/staff/seats", {"staff_seats": "30"}).status_code == 403


def test_the_worker_sends_invitation_email_as_a_periodic_job() -> None:
    from converge.core.jobs import registered_jobs

    assert registered_jobs()["accounts.invitation_mail"].every.total_seconds() <= 5
