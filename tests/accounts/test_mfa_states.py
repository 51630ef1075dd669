"""The second factor as a state machine, every transition walked with the test client.

anonymous --password--> pending (not signed in) --code or recovery code--> signed in
pending --10 minutes--> anonymous
signed in --password (+ current code when a device exists)--> enrolling --new code--> signed in
manager --reset--> the person has no device, no recovery codes and no open session
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from converge.accounts import services
from converge.accounts.models import RecoveryCode
from converge.audit.models import AuditEvent
from converge.core import clock
from converge.practices.models import Role
from converge.privacy.guard import privacy_settings
from tests.helpers import PASSWORD, make_staff

pytestmark = pytest.mark.django_db


def code_of(device: TOTPDevice) -> str:
    """The device's current code, as if no code had been used in this 30-second period yet
    (django-otp accepts each period's code once, and reads the real time)."""
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1, throttling_failure_count=0)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    return f"{totp.token():06d}"


@pytest.fixture
def later() -> Iterator[Callable[[timedelta], None]]:
    """Moves Converge's clock (not django-otp's) forward, and back after the test."""
    moved: list[timedelta] = []

    def advance(by: timedelta) -> None:
        moved.append(by)
        clock.advance(by)

    yield advance
    clock.advance(-sum(moved, timedelta(0)))


def enrolled(staff) -> tuple[TOTPDevice, list[str]]:
    device = services.mfa_enrollment_start(staff)
    assert services.mfa_enrollment_confirm(staff=staff, code=code_of(device))
    device.refresh_from_db()
    codes = services.recovery_codes_issue(staff)
    return device, codes


def password_step(client: Client, staff, password: str = PASSWORD):
    return client.post("/login/", {"email": staff.user.email, "password": password})


def is_signed_in(client: Client) -> bool:
    return client.get("/api/v1/conversations").status_code == 200


def test_a_session_owing_its_second_factor_is_not_signed_in_anywhere(staff):
    enrolled(staff)
    client = Client()
    assert password_step(client, staff).url == "/login/verify"
    assert not is_signed_in(client)
    assert client.get("/").status_code == 302
    # The enrolment page is not a way round the second factor.
    page = client.get("/account/mfa/")
    assert page.status_code == 302 and page.url == "/login/verify"
    assert client.get("/login/verify").status_code == 200


def test_the_reported_bypass_no_longer_replaces_the_victims_device(staff):
    victim_device, _ = enrolled(staff)
    attacker = Client()
    password_step(attacker, staff)
    attacker.get("/account/mfa/")
    attacker.post("/account/mfa/", {"action": "start", "password": PASSWORD})
    rogue = TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=False).first()
    assert rogue is None  # nothing was started for a session that is not signed in
    attacker.post("/account/mfa/", {"action": "confirm", "code": "123456"})
    attacker.post("/login/verify", {"code": "123456"})
    assert not is_signed_in(attacker)
    assert list(TOTPDevice.objects.filter(user_id=staff.user_id).values_list("pk", "confirmed")) == [
        (victim_device.pk, True)
    ]


def test_the_right_code_completes_sign_in_with_a_new_session_key(staff):
    device, _ = enrolled(staff)
    client = Client()
    password_step(client, staff)
    pending_key = client.cookies["sessionid"].value
    code = code_of(device)
    replayer = Client()
    password_step(replayer, staff)
    response = client.post("/login/verify", {"code": code})
    assert response.status_code == 302 and response.url == "/"
    assert client.cookies["sessionid"].value != pending_key
    assert is_signed_in(client)
    assert AuditEvent.objects.filter(action="auth.mfa_verified").count() == 1
    assert replayer.post("/login/verify", {"code": code}).status_code == 401  # once per period


def test_a_pending_sign_in_expires_after_ten_minutes(staff, later):
    device, _ = enrolled(staff)
    client = Client()
    password_step(client, staff)
    later(timedelta(minutes=11))
    response = client.post("/login/verify", {"code": code_of(device)})
    assert response.status_code == 302 and response.url == "/login/"
    assert not is_signed_in(client)


def test_wrong_codes_are_not_forgiven_by_entering_the_password_again(staff):
    enrolled(staff)
    client = Client()
    for _ in range(services.ACCOUNT_FAILURES - 1):
        password_step(client, staff)
        assert client.post("/login/verify", {"code": "000000"}).status_code == 401
    password_step(client, staff)
    client.post("/login/verify", {"code": "000000"})
    response = password_step(client, staff)
    assert response.status_code == 401 and "Too many failed sign-ins" in response.content.decode()


def test_a_password_change_ends_a_pending_sign_in(staff):
    device, _ = enrolled(staff)
    client = Client()
    password_step(client, staff)
    staff.user.set_password("a-completely-new-password-1")
    staff.user.save()
    client.post("/login/verify", {"code": code_of(device)})
    assert not is_signed_in(client)


def test_a_recovery_code_signs_in_once(staff):
    _, codes = enrolled(staff)
    assert len(codes) == 10 and len(set(codes)) == 10
    assert not RecoveryCode.objects.filter(code_hash__in=codes).exists()  # only hashes are kept
    first = Client()
    password_step(first, staff)
    assert first.post("/login/verify", {"code": codes[3].upper()}).status_code == 302
    assert is_signed_in(first)
    second = Client()
    password_step(second, staff)
    assert second.post("/login/verify", {"code": codes[3]}).status_code == 401
    assert not is_signed_in(second)
    used = AuditEvent.objects.get(action="auth.recovery_code_used")
    assert used.detail == {"remaining": 9}


def signed_in(staff, device: TOTPDevice | None = None) -> Client:
    client = Client()
    password_step(client, staff)
    if device is not None:
        assert client.post("/login/verify", {"code": code_of(device)}).status_code == 302
    return client


def test_enrolment_needs_the_password(staff):
    client = signed_in(staff)
    page = client.get("/account/mfa/")
    assert page.status_code == 200 and 'class="qr"' not in page.content.decode()  # nothing is created on a GET
    assert not TOTPDevice.objects.filter(user_id=staff.user_id).exists()
    refused = client.post("/account/mfa/", {"action": "start", "password": "wrong"})
    assert refused.status_code == 400
    assert not TOTPDevice.objects.filter(user_id=staff.user_id).exists()
    started = client.post("/account/mfa/", {"action": "start", "password": PASSWORD})
    assert started.status_code == 200 and 'class="qr"' in started.content.decode()
    device = TOTPDevice.objects.get(user_id=staff.user_id, confirmed=False)
    assert client.post("/account/mfa/", {"action": "confirm", "code": "000000"}).status_code == 400
    done = client.post("/account/mfa/", {"action": "confirm", "code": code_of(device)})
    assert done.status_code == 200
    assert services.mfa_device(staff) is not None
    assert RecoveryCode.objects.filter(user_id=staff.user_id, used_at=None).count() == 10
    assert "Recovery codes" in done.content.decode()


def test_confirming_without_starting_again_after_ten_minutes_is_refused(staff, later):
    client = signed_in(staff)
    client.post("/account/mfa/", {"action": "start", "password": PASSWORD})
    device = TOTPDevice.objects.get(user_id=staff.user_id, confirmed=False)
    later(timedelta(minutes=11))
    assert client.post("/account/mfa/", {"action": "confirm", "code": code_of(device)}).status_code == 400
    assert services.mfa_device(staff) is None


def test_replacing_a_device_needs_the_current_code(staff):
    device, old_codes = enrolled(staff)
    client = signed_in(staff, device)
    without_code = client.post("/account/mfa/", {"action": "start", "password": PASSWORD, "current_code": "000000"})
    assert without_code.status_code == 400
    assert not TOTPDevice.objects.filter(user_id=staff.user_id, confirmed=False).exists()
    device.refresh_from_db()
    started = client.post("/account/mfa/", {"action": "start", "password": PASSWORD, "current_code": code_of(device)})
    assert started.status_code == 200
    new_device = TOTPDevice.objects.get(user_id=staff.user_id, confirmed=False)
    assert client.post("/account/mfa/", {"action": "confirm", "code": code_of(new_device)}).status_code == 200
    assert list(TOTPDevice.objects.filter(user_id=staff.user_id).values_list("pk", flat=True)) == [new_device.pk]
    assert services.recovery_code_use(staff=staff, code=old_codes[0], ip="127.0.0.1") is False


def test_a_role_that_requires_mfa_can_only_enrol_until_it_has(staff, practice):
    settings = privacy_settings(practice.pk)
    settings.mfa_required_roles = [Role.FRONT_DESK]
    settings.save()
    client = signed_in(staff)
    assert client.get("/").url == "/account/mfa/"
    assert client.get("/api/v1/conversations").status_code == 401
    assert client.get("/account/mfa/").status_code == 200


def test_a_manager_resets_a_staff_members_second_factor(staff, practice):
    device, _ = enrolled(staff)
    victim_browser = signed_in(staff, device)
    manager = make_staff(practice, "Maria Manager", Role.MANAGER)
    page = signed_in(manager).get("/settings/staff/")
    assert page.status_code == 200 and staff.display_name in page.content.decode()
    response = signed_in(manager).post(f"/settings/staff/{staff.pk}/mfa/reset")
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user_id=staff.user_id).exists()
    assert not RecoveryCode.objects.filter(user_id=staff.user_id).exists()
    assert not is_signed_in(victim_browser)
    event = AuditEvent.objects.get(action="auth.mfa_reset")
    assert event.actor_user_id == manager.user_id and event.object_id == str(staff.pk)
    # Next sign-in needs only the password again (and enrolment, where the role requires it).
    assert password_step(Client(), staff).url == "/"


def test_front_desk_cannot_reset_anyones_second_factor_or_see_the_staff_page(staff, practice):
    nurse = make_staff(practice, "Nina Nurse", Role.NURSE)
    device, _ = enrolled(nurse)
    client = signed_in(staff)
    assert client.get("/settings/staff/").status_code == 403
    assert client.post(f"/settings/staff/{nurse.pk}/mfa/reset").status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_a_manager_cannot_reset_an_administrators_second_factor(practice):
    admin = make_staff(practice, "Ada Admin", Role.ADMIN)
    device, _ = enrolled(admin)
    manager = make_staff(practice, "Maria Manager", Role.MANAGER)
    assert signed_in(manager).post(f"/settings/staff/{admin.pk}/mfa/reset").status_code == 403
    assert TOTPDevice.objects.filter(pk=device.pk).exists()


def test_another_practices_manager_gets_404(staff, other_practice):
    device, _ = enrolled(staff)
    outsider = make_staff(other_practice, "Omar Outsider", Role.MANAGER)
    assert signed_in(outsider).post(f"/settings/staff/{staff.pk}/mfa/reset").status_code == 404
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    assert Session.objects.exists()
