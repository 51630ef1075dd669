"""Staff authentication: argon2, lockout, session rotation, TOTP, disabling an account."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import identify_hasher
from django.contrib.sessions.models import Session
from django.test import Client

from converge.accounts import services
from converge.audit.models import AuditEvent
from converge.privacy.guard import privacy_settings
from tests.helpers import PASSWORD

pytestmark = pytest.mark.django_db


def sign_in(client: Client, staff, password: str = PASSWORD):
    return client.post("/login/", {"email": staff.user.email, "password": password})


def test_passwords_are_hashed_with_argon2_in_production_settings(settings):
    from django.contrib.auth.hashers import make_password

    from converge.config import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    settings.PASSWORD_HASHERS = production.PASSWORD_HASHERS  # the fixture resets Django's hasher cache
    assert identify_hasher(make_password("x" * 12)).algorithm == "argon2"


def test_lockout_after_repeated_failures(staff):
    client = Client()
    for _ in range(services.ACCOUNT_FAILURES):
        assert sign_in(client, staff, "wrong-password").status_code == 401
    response = sign_in(client, staff)  # even the right password is refused while locked
    assert response.status_code == 401
    assert "Too many failed sign-ins" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.lockout").count() == 1
    assert AuditEvent.objects.filter(action="auth.login_failed").count() == services.ACCOUNT_FAILURES


def test_successful_login_resets_failures_and_rotates_session(staff):
    client = Client()
    sign_in(client, staff, "wrong-password")
    client.cookies["sessionid"] = "fixated"
    assert sign_in(client, staff).status_code == 302
    assert client.cookies["sessionid"].value != "fixated"
    assert services.login_blocked(email=staff.user.email, ip="127.0.0.1") == ""


def test_disabling_an_account_ends_all_its_sessions(staff, practice):
    browsers = [Client(), Client()]
    for browser in browsers:
        sign_in(browser, staff)
        assert browser.get("/").status_code == 200
    assert Session.objects.count() == 2
    services.staff_set_active(staff=staff, active=False, actor=None)
    for browser in browsers:
        assert browser.get("/").status_code == 302
    assert Session.objects.count() == 0
    assert AuditEvent.objects.get(action="staff.disable").detail["sessions_ended"] == 2


def test_mfa_can_be_required_per_role(staff, practice):
    settings = privacy_settings(practice.pk)
    settings.mfa_required_roles = ["front_desk"]
    settings.save()
    client = Client()
    sign_in(client, staff)
    assert client.get("/").url == "/account/mfa/"


@pytest.mark.django_db(transaction=True)
def test_disabling_closes_open_websockets(staff):
    import asyncio

    from asgiref.sync import sync_to_async
    from channels.testing import WebsocketCommunicator
    from django.conf import settings as django_settings

    from converge.config.asgi import application

    client = Client()
    sign_in(client, staff)
    cookie = f"{django_settings.SESSION_COOKIE_NAME}={client.cookies['sessionid'].value}"

    async def scenario() -> tuple[int | None, object]:
        communicator = WebsocketCommunicator(
            application,
            "/ws/staff/",
            headers=[(b"cookie", cookie.encode()), (b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
        )
        connected, _ = await communicator.connect()
        assert connected
        await communicator.receive_json_from(timeout=5)  # hello
        await sync_to_async(services.staff_set_active)(staff=staff, active=False, actor=None)
        output = await communicator.receive_output(timeout=5)
        await communicator.disconnect()
        return output.get("code"), output

    code, output = asyncio.run(scenario())
    assert code == 4401, output
