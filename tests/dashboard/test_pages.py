from __future__ import annotations

import time

import pytest
from django.test import Client

from converge.audit.models import AuditEvent
from converge.connectors.services import simulator_channel_create
from converge.conversations.models import Message
from converge.dashboard.idle import LAST_ACTIVITY_KEY
from tests.helpers import PASSWORD, make_staff, receive

pytestmark = pytest.mark.django_db


@pytest.fixture
def conversation(sms_channel):
    return receive(sms_channel, "+15552017788", "Can I get a refill?").message.conversation


def csrf_client(staff) -> Client:
    client = Client()
    client.force_login(staff.user)
    return client


def test_login_page_shows_practice_name(practice):
    page = Client().get("/login/").content.decode()
    assert "Sunrise Family Clinic" in page


def test_login_logout_and_audit(staff):
    client = Client()
    response = client.post("/login/", {"email": staff.user.email.upper(), "password": PASSWORD})
    assert response.status_code == 302 and response.url == "/"
    assert AuditEvent.objects.filter(action="auth.login").exists()
    assert client.get("/").status_code == 200
    client.post("/logout/")
    assert client.get("/").status_code == 302


def test_login_rotates_session_key(staff):
    client = Client()
    client.get("/login/")
    client.cookies["sessionid"] = "attacker-chosen"
    client.post("/login/", {"email": staff.user.email, "password": PASSWORD})
    assert client.cookies["sessionid"].value != "attacker-chosen"


def test_wrong_password_is_refused_and_audited(staff):
    response = Client().post("/login/", {"email": staff.user.email, "password": "wrong"})
    assert response.status_code == 401
    assert "do not match" in response.content.decode()
    assert AuditEvent.objects.filter(action="auth.login_failed").exists()


def test_open_redirect_is_refused(staff):
    response = Client().post("/login/?next=https://evil.example/", {"email": staff.user.email, "password": PASSWORD})
    assert response.url == "/"


def test_idle_session_is_logged_out(staff, practice):
    client = csrf_client(staff)
    client.get("/")
    session = client.session
    session[LAST_ACTIVITY_KEY] = time.time() - (practice.idle_timeout_minutes * 60 + 5)
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and response.url == "/login/?idle=1"
    assert client.get("/").status_code == 302


def test_inbox_and_conversation_pages(staff, conversation):
    client = csrf_client(staff)
    inbox = client.get("/").content.decode()
    assert "Unknown +1 555-201-7788" in inbox
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "Can I get a refill?" in page
    assert "SMS (simulator)" in page
    assert AuditEvent.objects.filter(action="conversation.read", object_id=str(conversation.pk)).exists()
    for view in ("mine", "unassigned", "urgent", "snoozed", "resolved", "bogus"):
        assert client.get(f"/?view={view}").status_code == 200


def test_reply_note_assign_resolve_from_the_page(staff, conversation, sms_channel):
    client = csrf_client(staff)
    client.post(f"/c/{conversation.pk}/reply", {"body": "We sent it to your pharmacy.", "channel": sms_channel.pk})
    assert Message.objects.filter(direction="out", body="We sent it to your pharmacy.").exists()
    client.post(f"/c/{conversation.pk}/note", {"body": "Called CVS"})
    client.post(f"/c/{conversation.pk}/assign", {"assignee": "me", "team": ""})
    client.post(f"/c/{conversation.pk}/status", {"status": "resolved"})
    conversation.refresh_from_db()
    assert conversation.assignee_id == staff.pk
    assert conversation.status == "resolved"
    page = client.get(f"/c/{conversation.pk}/").content.decode()
    assert "Called CVS" in page and "Resolved by Maria Lopez" in page


def test_reply_errors_are_shown(staff, conversation, sms_channel):
    client = csrf_client(staff)
    response = client.post(f"/c/{conversation.pk}/reply", {"body": "  ", "channel": sms_channel.pk}, follow=True)
    assert "Not sent: the message is empty" in response.content.decode()


def test_posts_need_csrf(staff, conversation, sms_channel):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff.user)
    response = client.post(f"/c/{conversation.pk}/reply", {"body": "hi", "channel": sms_channel.pk})
    assert response.status_code == 403


def test_other_practice_cannot_see_or_act(conversation, other_practice, sms_channel):
    intruder = make_staff(other_practice, "Eve Intruder")
    foreign_channel = simulator_channel_create(practice=other_practice, kind="sms")
    client = csrf_client(intruder)
    assert client.get(f"/c/{conversation.pk}/").status_code == 404
    assert "555-201-7788" not in client.get("/").content.decode()
    for action, data in (
        ("reply", {"body": "x", "channel": foreign_channel.pk}),
        ("note", {"body": "x"}),
        ("assign", {"assignee": "me"}),
        ("status", {"status": "resolved"}),
    ):
        assert client.post(f"/c/{conversation.pk}/{action}", data).status_code == 404
    # Nothing sent by a person (the practice's automatic portal invitation is not the intruder's).
    assert not Message.objects.filter(direction="out", is_automatic=False).exists()
    conversation.refresh_from_db()
    assert conversation.status == "open" and conversation.assignee_id is None


def test_simulator_log_lists_sent_messages(staff, conversation, sms_channel):
    client = csrf_client(staff)
    client.post(f"/c/{conversation.pk}/reply", {"body": "Simulated reply", "channel": sms_channel.pk})
    page = client.get("/simulator/").content.decode()
    assert "Simulated reply" in page and "simulator" in page.lower()


def test_disabled_account_cannot_use_pages(staff):
    client = csrf_client(staff)
    staff.is_active = False
    staff.save(update_fields=["is_active"])
    assert client.get("/").status_code == 302
