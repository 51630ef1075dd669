"""The website chat widget's HTTP side and services: the script, origin checks and CORS, the
pre-chat form, rate and size limits, claims that match patients, business hours and presence,
setup from the CLI and the settings pages, and the demo website."""

from __future__ import annotations

import html
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from converge.connectors import webchat
from converge.connectors.models import Channel, Provider, StaffPresence, WebchatVisitor
from converge.connectors.webchat import (
    webchat_channel_create,
    webchat_claim_matches,
    webchat_demo_channel_ensure,
    webchat_message_receive,
    webchat_visitor_start,
)
from converge.connectors.webchat_availability import (
    practice_availability,
    staff_presence_drop,
    staff_presence_touch,
)
from converge.conversations.models import Message
from converge.core import clock
from converge.patients.models import ContactPoint, Patient
from converge.practices.hours import next_opening, practice_open_now
from converge.practices.models import Role, default_business_hours
from converge.practices.services import practice_create
from converge.providers.webchat.protocol import WebchatError
from tests.helpers import make_staff

pytestmark = pytest.mark.django_db

SITE = "https://www.sunrise-clinic.example"
FORM = {"name": "Ana Torres", "phone": "(555) 201-7788", "email": "", "consent": True}


@pytest.fixture
def widget(practice: Any) -> Channel:
    return webchat_channel_create(practice=practice, origins=[SITE], actor=None)


def post(client: Client, url: str, body: Any, origin: str | None = SITE) -> Any:
    headers = {"Origin": origin} if origin else {}
    return client.post(url, data=json.dumps(body), content_type="text/plain;charset=UTF-8", headers=headers)


# --- origins ---------------------------------------------------------------------------------------


def test_a_channel_needs_at_least_one_valid_origin(practice):
    with pytest.raises(WebchatError, match="allowed-origin"):
        webchat_channel_create(practice=practice, origins=["http://www.example.com"], actor=None)
    with pytest.raises(WebchatError, match="at least one"):
        webchat_channel_create(practice=practice, origins=[], actor=None)


# --- the script ------------------------------------------------------------------------------------


def test_widget_js_is_served_small_cacheable_and_as_javascript(client):
    response = client.get("/widget.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "public, max-age=3600"
    assert len(response.content) < 30_000
    assert b"attachShadow" in response.content
    again = client.get("/widget.js", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304


# --- config and session endpoints -------------------------------------------------------------------


def test_config_answers_an_allowed_origin_with_cors_for_it_alone(client, widget):
    response = post(client, f"/webchat/{widget.key}/config", {})
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == SITE
    assert "Origin" in response["Vary"]
    data = response.json()
    assert data["practice"] == widget.practice.name
    assert "911" in data["emergency"] and data["max_length"] == 2000
    assert data["availability"]["notice"]

    preflight = client.options(f"/webchat/{widget.key}/session", headers={"Origin": SITE})
    assert preflight.status_code == 204 and preflight["Access-Control-Allow-Methods"] == "POST, OPTIONS"


@pytest.mark.parametrize("origin", ["https://evil.example", "https://www.sunrise-clinic.example.evil.example", None])
def test_other_websites_are_refused_without_cors_headers(client, widget, origin):
    for path in ("config", "session"):
        response = post(client, f"/webchat/{widget.key}/{path}", FORM, origin=origin)
        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response
    assert not WebchatVisitor.objects.exists()


def test_unknown_or_disabled_channel_is_404(client, widget):
    assert post(client, "/webchat/nope/config", {}).status_code == 404
    Channel.objects.filter(pk=widget.pk).update(enabled=False)
    assert post(client, f"/webchat/{widget.key}/config", {}).status_code == 404


def test_the_pre_chat_form_starts_a_visitor(client, widget):
    response = post(client, f"/webchat/{widget.key}/session", FORM)
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    visitor = WebchatVisitor.objects.get()
    assert token.startswith(visitor.public_id + ".")
    assert visitor.token_hash != token and token not in visitor.token_hash  # only the hash is kept
    assert (visitor.name, visitor.claimed_phone, visitor.claimed_email) == ("Ana Torres", "+15552017788", "")
    assert visitor.consent_at is not None and len(visitor.ip_hash) == 64


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "  "}, "name"),
        ({"phone": "", "email": ""}, "phone"),
        ({"phone": "12"}, "phone"),
        ({"phone": "", "email": "not-an-email"}, "email"),
        ({"consent": False}, "consent"),
        ({"consent": "yes"}, "consent"),
    ],
)
def test_the_pre_chat_form_says_which_field_is_wrong(client, widget, change, field):
    response = post(client, f"/webchat/{widget.key}/session", {**FORM, **change})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response["Access-Control-Allow-Origin"] == SITE  # so the widget can read the reason


def test_sessions_per_hour_from_one_address_are_limited(client, widget):
    widget.settings["limits"]["sessions_per_hour"] = 2
    widget.save(update_fields=["settings"])
    codes = [post(client, f"/webchat/{widget.key}/session", FORM).status_code for _ in range(3)]
    assert codes == [201, 201, 429]


def test_the_121st_widget_request_in_a_minute_from_one_address_is_429(client, widget, monkeypatch):
    from types import SimpleNamespace

    from converge.core import throttle

    # One fixed window, so the count cannot restart at a minute boundary mid-test.
    monkeypatch.setattr(throttle, "time", SimpleNamespace(time=lambda: 1_800_000_000.0, monotonic=time.monotonic))
    codes = [post(client, f"/webchat/{widget.key}/config", {}).status_code for _ in range(121)]
    assert codes[:120] == [200] * 120
    assert codes[120] == 429
    assert post(client, f"/webchat/{widget.key}/session", FORM).status_code == 429  # one count per address


def test_a_bad_body_is_refused(client, widget):
    response = client.post(
        f"/webchat/{widget.key}/session", data=b"{nope", content_type="text/plain", headers={"Origin": SITE}
    )
    assert response.status_code == 400


def test_a_deeply_nested_body_is_refused(client, widget):
    response = client.post(
        f"/webchat/{widget.key}/session", data=b"[" * 8000, content_type="text/plain", headers={"Origin": SITE}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == "The request is not JSON."


# --- messages ------------------------------------------------------------------------------------


def start(widget: Channel, **form: Any) -> Any:
    return webchat_visitor_start(channel=widget, form={**FORM, **form}, ip="203.0.113.9")


def test_a_visitor_message_arrives_in_the_inbox_as_an_unverified_contact(widget):
    visitor = start(widget).visitor
    message = webchat_message_receive(visitor=visitor, text="  Do you take new patients?  ", client_id="c1", ip="x")
    assert message.body == "Do you take new patients?"
    assert message.channel_id == widget.pk and message.direction == "in"
    contact = ContactPoint.objects.get(pk=message.contact_point_id)
    assert (contact.kind, contact.address) == ("webchat", visitor.public_id)
    assert contact.consent_at == visitor.consent_at
    assert not message.patient.is_verified
    assert message.metadata["claimed_phone"] == "+15552017788" and message.metadata["sender_name"] == "Ana Torres"
    # A resend with the same client id (after a reconnect) is the same message.
    again = webchat_message_receive(visitor=visitor, text="Do you take new patients?", client_id="c1", ip="x")
    assert again.pk == message.pk and Message.objects.filter(channel=widget).count() == 1


def test_text_a_database_cannot_store_is_dropped(widget):
    """A hostile client can send a NUL or a lone surrogate in the WebSocket's JSON ("\\udb36");
    PostgreSQL refuses both, and neither is anything a visitor typed."""
    visitor = start(widget).visitor
    message = webchat_message_receive(visitor=visitor, text="a\x00b\udb36c", client_id="odd", ip="x")
    assert message.body == "abc"


def test_message_size_and_rate_are_limited(widget):
    visitor = start(widget).visitor
    with pytest.raises(WebchatError) as too_long:
        webchat_message_receive(visitor=visitor, text="x" * 2001, client_id="big", ip="x")
    assert too_long.value.code == "too_long"
    webchat_message_receive(visitor=visitor, text="x" * 2000, client_id="max", ip="x")
    with pytest.raises(WebchatError):
        webchat_message_receive(visitor=visitor, text="   ", client_id="empty", ip="x")
    with pytest.raises(WebchatError):
        webchat_message_receive(visitor=visitor, text="hi", client_id="not ok!", ip="x")
    widget.settings["limits"]["messages_per_minute"] = 3
    widget.save(update_fields=["settings"])
    visitor.channel.refresh_from_db()
    for n in range(2):
        webchat_message_receive(visitor=visitor, text=f"m{n}", client_id=f"m{n}", ip="x")
    with pytest.raises(WebchatError) as limited:
        webchat_message_receive(visitor=visitor, text="one more", client_id="m3", ip="x")
    assert limited.value.code == "rate_limited"


def test_messages_per_ip_are_limited_across_visitors(widget):
    widget.settings["limits"]["ip_messages_per_minute"] = 2
    widget.save(update_fields=["settings"])
    first, second = start(widget).visitor, start(widget).visitor
    webchat_message_receive(visitor=first, text="a", client_id="a", ip="198.51.100.4")
    webchat_message_receive(visitor=second, text="b", client_id="b", ip="198.51.100.4")
    with pytest.raises(WebchatError):
        webchat_message_receive(visitor=second, text="c", client_id="c", ip="198.51.100.4")


def test_claimed_phone_or_email_matching_a_patient_is_a_hint_never_a_link(widget, practice):
    known = Patient.objects.create(practice=practice, first_name="Ana", last_name="Torres", is_verified=True)
    ContactPoint.objects.create(practice=practice, patient=known, kind="sms", address="+15552017788")
    ContactPoint.objects.create(practice=practice, patient=known, kind="email", address="ana@example.com")
    visitor = start(widget, email="ANA@example.com").visitor
    message = webchat_message_receive(visitor=visitor, text="hello", client_id="h", ip="x")

    assert message.patient_id != known.pk
    matches = webchat_claim_matches(message.patient)
    assert {(m.patient.pk, m.matched) for m in matches} == {(known.pk, "phone"), (known.pk, "email")}
    assert webchat_claim_matches(known) == []


def test_token_lookup_is_per_channel_and_expires(widget, practice):
    started = start(widget)
    other = webchat_channel_create(practice=practice, origins=["https://other.example"], actor=None)
    assert webchat.webchat_visitor_for_token(channel=widget, token=started.token) == started.visitor
    assert webchat.webchat_visitor_for_token(channel=other, token=started.token) is None
    assert webchat.webchat_visitor_for_token(channel=widget, token=started.token + "x") is None
    WebchatVisitor.objects.filter(pk=started.visitor.pk).update(last_seen_at=clock.now() - timedelta(days=31))
    assert webchat.webchat_visitor_for_token(channel=widget, token=started.token) is None


# --- business hours and presence --------------------------------------------------------------------


def at(local: str, practice: Any) -> datetime:
    """A moment given as practice-local wall time, e.g. "2026-03-09 09:30" (a Monday)."""
    from zoneinfo import ZoneInfo

    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(practice.time_zone)).astimezone(UTC)


@pytest.fixture
def weekday_hours(practice: Any) -> Any:
    practice.business_hours = default_business_hours()  # Monday to Friday, 8:00 to 17:00
    practice.save(update_fields=["business_hours"])
    return practice


def test_business_hours_in_the_practice_time_zone(weekday_hours):
    practice = weekday_hours
    assert practice_open_now(practice, at("2026-03-09 09:30", practice))  # Monday
    assert not practice_open_now(practice, at("2026-03-09 17:00", practice))
    assert not practice_open_now(practice, at("2026-03-14 10:00", practice))  # Saturday
    # Friday evening, EST: the next opening is Monday 8:00 EDT, after the DST change on Sunday March 8.
    opening = next_opening(practice, at("2026-03-06 18:00", practice))
    assert opening is not None and opening.isoformat() == "2026-03-09T08:00:00-04:00"


def test_the_widget_notice_says_when_the_practice_will_answer(weekday_hours, staff):
    practice = weekday_hours
    closed = practice_availability(practice, at("2026-03-06 18:00", practice))
    assert not closed.available
    assert "closed" in closed.notice and "on Monday at 8:00 AM" in closed.notice
    nobody = practice_availability(practice, at("2026-03-09 10:00", practice))
    assert nobody.open_now and not nobody.staff_online and "No one is at the desk" in nobody.notice
    assert "open until 5:00 PM" in nobody.notice
    staff_presence_touch(practice_id=practice.pk, staff_id=staff.pk, connection="conn-1")
    online = practice_availability(practice, at("2026-03-09 10:00", practice))
    assert online.available and "online" in online.notice
    tomorrow = practice_availability(practice, at("2026-03-09 19:00", practice))
    assert "tomorrow at 8:00 AM" in tomorrow.notice
    staff_presence_drop(connection="conn-1")
    assert not practice_availability(practice, at("2026-03-09 10:00", practice)).staff_online


def test_stale_presence_does_not_count(practice, staff):
    staff_presence_touch(practice_id=practice.pk, staff_id=staff.pk, connection="dead-process")
    StaffPresence.objects.update(last_seen_at=clock.now() - timedelta(minutes=10))
    assert not practice_availability(practice).staff_online


# --- setup -------------------------------------------------------------------------------------------


def test_cli_adds_a_webchat_channel_and_prints_the_tag(practice, capsys, settings):
    from converge.cli import main

    code = main(
        ["channel", "add", "webchat", "--practice", "sunrise", "--allowed-origin", SITE, "--allowed-origin", SITE + "/"]
    )
    assert code == 0
    channel = Channel.objects.get(provider=Provider.WIDGET)
    assert channel.settings["allowed_origins"] == [SITE]
    out = capsys.readouterr().out
    assert f'<script src="{settings.PUBLIC_BASE_URL}/widget.js" data-channel="{channel.key}" async></script>' in out

    assert main(["channel", "add", "webchat", "--practice", "sunrise", "--allowed-origin", "http://x.example"]) == 2
    assert "https://" in capsys.readouterr().err


def test_cli_adds_an_email_channel(practice, capsys):
    from converge.cli import main

    code = main(
        [
            "channel", "add", "email", "--practice", "sunrise", "--address", "FrontDesk@Clinic.example",
            "--imap-host", "imap.clinic.example", "--imap-user", "frontdesk", "--imap-password", "secret-1",
            "--smtp-host", "smtp.clinic.example", "--no-check", "--poll-seconds", "30",
        ]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    channel = Channel.objects.get(provider=Provider.MAILBOX)
    assert channel.display_address == "frontdesk@clinic.example"
    assert channel.settings["imap"] == {"host": "imap.clinic.example", "port": 993, "tls": "ssl", "folder": "INBOX"}
    assert channel.settings["smtp"] == {"host": "smtp.clinic.example", "port": 587, "tls": "starttls"}
    assert channel.credentials()["smtp_password"] == "secret-1"  # same account for both by default
    assert "secret-1" not in channel.credentials_encrypted
    assert "frontdesk+<token>@clinic.example" in capsys.readouterr().out


def test_settings_pages_are_for_managers_and_admins(practice, client):
    front_desk = make_staff(practice, "Fran Desk")
    client.force_login(front_desk.user)
    for url in ("/settings/channels/webchat/new", "/settings/channels/email/new"):
        assert client.get(url).status_code == 403

    manager = make_staff(practice, "Pat Manager", Role.MANAGER)
    client.force_login(manager.user)
    page = client.get("/settings/channels/webchat/new")
    assert page.status_code == 200
    response = client.post("/settings/channels/webchat/new", {"name": "Site chat", "origins": f"{SITE}\nhttp://bad"})
    assert response.status_code == 400 and b"https://" in response.content
    response = client.post("/settings/channels/webchat/new", {"name": "Site chat", "origins": SITE})
    channel = Channel.objects.get(provider=Provider.WIDGET)
    assert response.status_code == 302 and response["Location"] == f"/settings/channels/webchat/{channel.pk}/"
    detail = client.get(response["Location"]).content.decode()
    assert html.escape(f'data-channel="{channel.key}"') in detail and SITE in detail

    response = client.post(
        "/settings/channels/email/new",
        {
            "address": "frontdesk@clinic.example",
            "imap_host": "imap.clinic.example",
            "imap_port": "993",
            "imap_user": "frontdesk",
            "imap_password": "pw-1",
            "smtp_host": "smtp.clinic.example",
            "smtp_port": "587",
            "smtp_user": "frontdesk",
            "smtp_password": "pw-1",
            "poll_seconds": "60",
        },
    )
    email = Channel.objects.get(provider=Provider.MAILBOX)
    assert response.status_code == 302 and response["Location"] == f"/settings/channels/email/{email.pk}/"
    assert client.get(response["Location"]).status_code == 200
    # Another practice's channel is not found.
    other = make_staff(practice_create(name="Harbor", slug="harbor"), "Hal Admin", Role.ADMIN)
    client.force_login(other.user)
    assert client.get(f"/settings/channels/email/{email.pk}/").status_code == 404
    assert client.get(f"/settings/channels/webchat/{channel.pk}/").status_code == 404


def test_demo_channel_and_sample_site(practice, client, settings):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8123"
    assert client.get("/demo-site/").status_code == 404
    channel = webchat_demo_channel_ensure(practice)
    assert webchat_demo_channel_ensure(practice).pk == channel.pk
    assert channel.settings["allowed_origins"] == ["http://127.0.0.1:8123"]
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9000"
    channel = webchat_demo_channel_ensure(practice)
    assert channel.settings["allowed_origins"] == ["http://127.0.0.1:8123", "http://127.0.0.1:9000"]
    page = client.get("/demo-site/")
    assert page.status_code == 200
    assert f'<script src="http://127.0.0.1:9000/widget.js" data-channel="{channel.key}" async></script>' in (
        page.content.decode()
    )
